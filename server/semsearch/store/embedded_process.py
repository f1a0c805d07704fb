"""The operating system's side of the embedded PostgreSQL: which user runs it, how its process
ends, and what its ``postmaster.pid`` says."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

STOP_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int


def end_server(process: subprocess.Popen[bytes], fast: bool = True) -> None:
    """SIGINT is PostgreSQL's fast shutdown (a checkpoint first); SIGQUIT its immediate one, enough
    for a cluster that need not survive; SIGKILL the last word."""
    signals = ((signal.SIGINT, STOP_TIMEOUT),) if fast else ()
    for sig, wait in (*signals, (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)


def account_named(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def first_closed_folder(path: Path, account: Account) -> Path | None:
    """The first folder from ``/`` down to ``path`` that ``account`` may not enter, if any."""
    for folder in [*reversed(path.parents), path]:
        info = folder.stat()
        if info.st_uid == account.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == account.gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


def server_environment() -> dict[str, str]:
    """What the server needs of our environment, and nothing else (no secrets, no PG* variables)."""
    keep = ("PATH", "TZ", "LD_LIBRARY_PATH")
    return {"LC_ALL": "C", **{k: v for k, v in os.environ.items() if k in keep}}


def on_main_thread() -> bool:
    # The parent-death signal fires when the *thread* that started the child ends: only the main
    # thread lives as long as the process.
    return threading.current_thread() is threading.main_thread()


_prctl = ctypes.CDLL(None).prctl  # looked up here: the child between fork and exec should load nothing


def end_with_parent() -> None:
    """In the child, before exec: a fast shutdown when this process dies without stopping it."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postmaster_lines(pgdata: Path) -> list[str]:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def postmaster_pid(pgdata: Path) -> int | None:
    lines = _postmaster_lines(pgdata)
    return int(lines[0]) if lines and lines[0].strip().isdigit() else None


def postmaster_status(pgdata: Path) -> str:
    lines = _postmaster_lines(pgdata)
    return lines[7].strip() if len(lines) > 7 else ""


def runs_postgres_in(pid: int, pgdata: Path) -> bool:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(arguments) and arguments[0].endswith(b"postgres") and str(pgdata).encode() in arguments


def last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
