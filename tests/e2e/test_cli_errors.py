"""The command line's failure modes: clear one-line messages and documented exit codes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def semsearch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "semsearch", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_unknown_config_key_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[server]\nlisten = "127.0.0.1:0"\nlisen = "oops"\n[[index]]\nname="a"\nkind="markdown"\npath="."\n'
    )
    result = semsearch("serve", "--config", str(config))
    assert result.returncode == 2
    assert "unknown key 'lisen'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_missing_corpus_folder_exits_2_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "missing.toml"
    config.write_text(
        '[server]\nlisten = "127.0.0.1:0"\n[embeddings]\nurl = "http://127.0.0.1:9/v1"\n'
        '[[index]]\nname="a"\nkind="markdown"\npath="no-such-folder"\n'
    )
    result = semsearch("serve", "--config", str(config))
    assert result.returncode == 2
    assert "cannot start" in result.stderr and "no-such-folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_client_commands_report_an_unreachable_server_with_exit_3() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = semsearch("indexes", "--target", f"127.0.0.1:{port}")
    assert result.returncode == 3
    assert "cannot reach a server" in result.stderr


def test_unknown_proxy_model_exits_2() -> None:
    result = semsearch("proxy", "--model", "no-such-model", "--port", "0")
    assert result.returncode == 2
    assert "unknown model 'no-such-model'" in result.stderr
