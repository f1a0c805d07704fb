"""semsearch: semantic search over document corpora, served over gRPC, never mixing embedding spaces."""

__version__ = "0.1.0"
