"""Exit codes of the ``semsearch`` command, shared by every subcommand and its ``--help``."""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1  # the server answered with an error status (code and ErrorInfo reason are printed)
EXIT_USAGE = 2  # bad arguments or configuration; `serve` could not start
EXIT_UNREACHABLE = 3  # no server answered at --target within --timeout
EXIT_REBUILD_FAILED = 4  # `reindex --wait`: a rebuild failed (the server retries it with backoff)
EXIT_WAIT_TIMEOUT = 5  # `reindex --wait`: --wait-timeout elapsed before the rebuild finished
EXIT_AUTH = 6  # the server refused the bearer token: none sent (UNAUTHENTICATED) or a wrong one
EXIT_INTERRUPTED = 130  # Ctrl-C (except `watch`, for which Ctrl-C is the normal way out: 0)

EPILOG = """\
exit codes:
  0    success (for `watch`, also Ctrl-C)
  1    the server refused the call; the message shows the status code and ErrorInfo reason
  2    bad usage or configuration; `serve` could not start
  3    no server reachable at --target (or no answer within --timeout)
  4    `reindex --wait`: a rebuild failed
  5    `reindex --wait`: --wait-timeout elapsed first
  6    the server wants a bearer token: none was sent, or it is not the right one
  130  interrupted (Ctrl-C)

environment:
  SEMSEARCH_TARGET   default server address of the client commands (else 127.0.0.1:50051)
  SEMSEARCH_TOKEN    bearer token sent with every call when set (--token-env names another variable)
  SEMSEARCH_TLS_CA   default of --tls-ca: connect with TLS, trusting these PEM certificates
"""
