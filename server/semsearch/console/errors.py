"""Failed calls → one line for a human and an exit code; never a traceback.

The client library has already read the status: the code, the ErrorInfo reason, the RetryInfo
delay and the BadRequest fields. What is left here is how the command says it.
"""

from __future__ import annotations

import grpc

from semsearch.console.exits import EXIT_AUTH, EXIT_REFUSED, EXIT_UNREACHABLE
from semsearch_client import SemsearchError, UnreachableError

# What to do about a refused token, by ErrorInfo reason.
_TOKEN_HINTS = {
    "TOKEN_REQUIRED": "set SEMSEARCH_TOKEN, or name the variable holding it with --token-env",
    "TOKEN_INVALID": "the token sent is not the server's: check SEMSEARCH_TOKEN or the --token-env variable",
}


class CommandError(Exception):
    """Ends a command: ``message`` goes to stderr after ``semsearch: ``, ``exit_code`` to the shell."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


def unreachable(target: str, cause: str) -> CommandError:
    if "TLS" in cause:  # something answered: the cause already says what to change
        return CommandError(EXIT_UNREACHABLE, f"cannot reach a server at {target}: {cause}")
    return CommandError(
        EXIT_UNREACHABLE,
        f"cannot reach a server at {target}: {cause} "
        "(is `semsearch serve` running there? choose another with --target or SEMSEARCH_TARGET)",
    )


def no_server_answered(error: SemsearchError) -> bool:
    """The transport failed (nothing listens, TLS mismatch) or our deadline ran out: no semsearch
    reason came back, so there is nothing the server said to print."""
    return isinstance(error, UnreachableError) or (
        error.code == grpc.StatusCode.DEADLINE_EXCEEDED and not error.reason
    )


def cause(error: SemsearchError, timeout: float) -> str:
    """Why a call failed, in a few words: the ErrorInfo reason, else the transport's cause."""
    return error.reason or transport_cause(error, timeout)


def transport_cause(error: SemsearchError, timeout: float) -> str:
    """gRPC's long connection diagnostics, cut to what a person acts on."""
    if error.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer within {timeout:g}s"
    lowered = error.message.lower()
    if "handshake" in lowered:
        if "certificate_verify_failed" in lowered:
            return "TLS handshake failed: the server's certificate is not trusted (check --tls-ca)"
        return "TLS handshake failed (is the server serving TLS? drop --tls-ca and --tls if not)"
    for needle, short in (
        ("connection refused", "connection refused"),
        ("domain name not found", "unknown host"),
        ("resolving", "cannot resolve the address"),
        ("timed out", "connection timed out"),
        ("socket closed", "the connection was closed; if the server serves TLS, use --tls-ca or --tls"),
    ):
        if needle in lowered:
            return short
    return error.message.split(";", 1)[0].strip() or error.code.name.lower()


def command_error(error: SemsearchError, target: str, timeout: float) -> CommandError:
    """The one line and exit code of a failed call: unreachable (3), token refused (6), refused (1)."""
    if no_server_answered(error):
        return unreachable(target, transport_cause(error, timeout))
    line = str(error)  # CODE [REASON]: message
    if error.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        hint = _TOKEN_HINTS.get(error.reason)
        return CommandError(EXIT_AUTH, f"{line} ({hint})" if hint else line)
    fields = [violation.field for violation in error.field_violations if violation.field]
    if fields:
        line += f" (field {', '.join(fields)})"
    if error.retry_delay is not None:
        line += f" (retry in {error.retry_delay:g}s)"
    return CommandError(EXIT_REFUSED, line)
