"""Failed calls → one line for a human and an exit code; never a traceback."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from semsearch.console.exits import EXIT_AUTH, EXIT_REFUSED, EXIT_UNREACHABLE

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


def error_info(exc: grpc.aio.AioRpcError) -> tuple[str, float | None, list[str]]:
    """The ErrorInfo reason ("" without one), the RetryInfo delay and the BadRequest field names."""
    reason, retry, fields = "", None, []
    status = rpc_status.from_call(exc)
    for detail in status.details if status is not None else []:
        info, delay, bad = (
            error_details_pb2.ErrorInfo(),
            error_details_pb2.RetryInfo(),
            error_details_pb2.BadRequest(),
        )
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            reason = info.reason
        elif detail.Is(delay.DESCRIPTOR) and detail.Unpack(delay):
            retry = delay.retry_delay.ToTimedelta().total_seconds()
        elif detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
            fields = [v.field for v in bad.field_violations if v.field]
    return reason, retry, fields


def is_transport_failure(exc: grpc.aio.AioRpcError) -> bool:
    """No server answered: gRPC's own UNAVAILABLE / DEADLINE_EXCEEDED, without a semsearch ErrorInfo."""
    transport = exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return transport and not error_info(exc)[0]


def is_transient(exc: grpc.aio.AioRpcError) -> bool:
    """Worth calling again later: gRPC's UNAVAILABLE (whoever says it, e.g. a draining server) or a
    deadline. Anything else (NOT_FOUND, INVALID_ARGUMENT, ...) will fail the same way again."""
    return exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def short_cause(exc: grpc.aio.AioRpcError, timeout: float) -> str:
    """Why a call failed, in a few words: the ErrorInfo reason, else the transport's cause."""
    return error_info(exc)[0] or transport_cause(exc, timeout)


def transport_cause(exc: grpc.aio.AioRpcError, timeout: float) -> str:
    """gRPC's long connection diagnostics, cut to what a person acts on."""
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer within {timeout:g}s"
    details = exc.details() or ""
    lowered = details.lower()
    if "handshake" in lowered:
        if "certificate_verify_failed" in lowered:
            return "TLS handshake failed: the server's certificate is not trusted (check --tls-ca)"
        return "TLS handshake failed (is the server serving TLS? drop --tls-ca and --tls if not)"
    for needle, cause in (
        ("connection refused", "connection refused"),
        ("domain name not found", "unknown host"),
        ("resolving", "cannot resolve the address"),
        ("timed out", "connection timed out"),
        ("socket closed", "the connection was closed; if the server serves TLS, use --tls-ca or --tls"),
    ):
        if needle in lowered:
            return cause
    return details.split(";", 1)[0].strip() or exc.code().name.lower()


def from_rpc_error(exc: grpc.aio.AioRpcError, target: str, timeout: float) -> CommandError:
    if is_transport_failure(exc):
        return unreachable(target, transport_cause(exc, timeout))
    reason, retry, fields = error_info(exc)
    line = f"{exc.code().name}{f' [{reason}]' if reason else ''}: {exc.details()}"
    if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        hint = _TOKEN_HINTS.get(reason)
        return CommandError(EXIT_AUTH, f"{line} ({hint})" if hint else line)
    if fields:
        line += f" (field {', '.join(fields)})"
    if retry is not None:
        line += f" (retry in {retry:g}s)"
    return CommandError(EXIT_REFUSED, line)
