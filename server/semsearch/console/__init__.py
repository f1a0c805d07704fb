"""The client half of the ``semsearch`` command: search, status, watch and reindex a running server.

Each command module adds its own subparser and runs on the Python client library
(``semsearch_client``: its channel, retries, errors and resubscribing watch); what is left here is
the command line's own: flags, exit codes, messages and rendering. ``tables``, ``watch_view`` and
``watch_render`` are pure (state in, rich renderable out) so they can be rendered at a fixed width.
Heavy imports (grpc, rich) happen per command, so ``semsearch proxy`` does not pay for them.
"""
