"""Several replicas on one shared store: the log every replica follows, the indexer lease, and
how a replica applies what the indexer did (see ``semsearch.app.replicated`` for the wiring)."""
