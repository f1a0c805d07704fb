"""The embedded PostgreSQL: initialised on first use, stopped without a trace, one process per
folder, and a server left behind by a dead process replaced."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from semsearch.store.embedded import EmbeddedPostgres, EmbeddedPostgresError
from tests.support.corpora import REPO

pytestmark = pytest.mark.slow  # each test runs initdb


@pytest.fixture
def folder() -> Iterator[Path]:
    """Under /tmp, not pytest's tmp_path: as root the server runs as nobody, who cannot enter that."""
    made = Path(tempfile.mkdtemp(prefix="semsearch-test-embedded-"))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def _processes_in(folder: Path) -> set[int]:
    """The servers started over ``folder`` and every process below them."""
    parents: dict[int, int] = {}
    roots = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            arguments = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
        if str(folder).encode() in arguments:
            roots.add(int(entry.name))
    found = set(roots)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


def test_data_outlives_a_stop_and_no_process_does(folder: Path) -> None:
    server = EmbeddedPostgres(folder)
    with server, psycopg.connect(server.dsn()) as conn:
        assert len(_processes_in(folder)) > 1  # the server and its workers
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
        conn.commit()
        extension = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert extension is not None
    assert _processes_in(folder) == set()
    with server, psycopg.connect(server.dsn()) as conn:
        assert conn.execute("SELECT value FROM kept").fetchall() == [("still here",)]
    assert _processes_in(folder) == set()


def test_one_process_per_folder(folder: Path) -> None:
    with (
        EmbeddedPostgres(folder, durable=False),
        pytest.raises(EmbeddedPostgresError, match="another process"),
    ):
        EmbeddedPostgres(folder, durable=False).start()
    assert _processes_in(folder) == set()


def test_a_server_left_by_a_dead_process_is_replaced(folder: Path) -> None:
    # Started from a thread, the server is not told when its parent dies: it is left running.
    script = textwrap.dedent(
        f"""
        import os, signal, threading
        from pathlib import Path
        from semsearch.store.embedded import EmbeddedPostgres
        thread = threading.Thread(target=EmbeddedPostgres(Path({str(folder)!r}), durable=False).start)
        thread.start()
        thread.join()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "server")}
    died = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, timeout=120
    )
    assert died.returncode == -9, died.stderr
    leftover = _processes_in(folder)
    assert leftover
    with EmbeddedPostgres(folder, durable=False) as server, psycopg.connect(server.dsn()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert not leftover & _processes_in(folder)
    assert _processes_in(folder) == set()


def test_a_taken_port_is_a_clear_error_and_leaves_nothing(folder: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedPostgresError, match=f"port {port}"):
            EmbeddedPostgres(folder, port, durable=False).start()
    assert _processes_in(folder) == set()
    with EmbeddedPostgres(folder, durable=False) as server:  # the folder is still usable
        assert server.port != port


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_as_root_a_folder_nobody_can_enter_is_refused(folder: Path) -> None:
    folder.chmod(0o755)
    closed = folder / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(EmbeddedPostgresError, match=f"cannot enter {closed}"):
        EmbeddedPostgres(closed / "data").start()
