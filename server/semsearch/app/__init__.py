"""The running service: wiring (config → corpora → provider → store → manager → gRPC server) and
what only a running app has, the Prometheus exporter and its HTTP endpoint."""

from semsearch.app.wiring import RunningApp, running, serve

__all__ = ["RunningApp", "running", "serve"]
