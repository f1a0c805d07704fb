"""The client half of the ``semsearch`` command: search, status, watch and reindex a running server.

Each command module adds its own subparser and runs on grpc.aio; ``tables``, ``watch_view`` and
``watch_render`` are pure (state in, rich renderable out) so they can be rendered at a fixed width.
Heavy imports (grpc, rich) happen per command, so ``semsearch proxy`` does not pay for them.
"""
