"""The command line's failure modes: clear one-line messages and documented exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def semsearch(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "SEMSEARCH_TARGET"}
    return subprocess.run(
        [sys.executable, "-m", "semsearch", *args],
        cwd=REPO,
        env={**base, **(env or {})},
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "command",
    [
        ["search", "how do I restart"],
        ["search", "q", "--json"],
        ["status"],
        ["status", "--json"],
        ["indexes"],
        ["watch"],
        ["watch", "--json"],
        ["reindex"],
        ["reindex", "--wait"],
    ],
    ids=" ".join,
)
def test_every_client_command_reports_an_unreachable_server_in_one_line_with_exit_3(
    command: list[str],
) -> None:
    target = f"127.0.0.1:{free_port()}"
    result = semsearch(*command, "--target", target)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"semsearch: cannot reach a server at {target}: connection refused ")


def test_the_target_comes_from_semsearch_target_when_not_given() -> None:
    target = f"127.0.0.1:{free_port()}"
    result = semsearch("status", env={"SEMSEARCH_TARGET": target})
    assert result.returncode == 3 and f"cannot reach a server at {target}" in result.stderr


def test_a_server_that_never_answers_is_unreachable_after_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never speaks HTTP/2
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = f"127.0.0.1:{silent.getsockname()[1]}"
        result = semsearch("status", "--target", target, "--timeout", "0.5")
        watched = semsearch("watch", "--target", target, "--timeout", "0.5")
    for outcome in (result, watched):
        assert outcome.returncode == 3
        assert outcome.stderr.strip().endswith(
            "(is `semsearch serve` running there? choose another with --target or SEMSEARCH_TARGET)"
        )
        assert "no answer within 0.5s" in outcome.stderr or "timed out" in outcome.stderr, outcome.stderr


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        (["search", "q", "--filter", "novalue"], "expected FIELD=VALUE"),
        (["status", "--timeout", "0"], "expected a positive number of seconds"),
        (["reindex", "--wait-timeout", "soon"], "expected a number of seconds"),
        (["watch", "--events", "many"], "invalid int value"),
    ],
)
def test_bad_usage_exits_2_naming_the_flag(command: list[str], complaint: str) -> None:
    result = semsearch(*command)
    assert result.returncode == 2
    assert complaint in result.stderr and "Traceback" not in result.stderr


def test_help_documents_the_exit_codes_and_the_target_variable() -> None:
    for command in ([], ["search"], ["watch"], ["reindex"]):
        result = semsearch(*command, "--help")
        assert result.returncode == 0
        for line in (
            "3    no server reachable at --target",
            "4    `reindex --wait`: a rebuild failed",
            "SEMSEARCH_TARGET",
        ):
            assert line in result.stdout, (command, line)


def test_unknown_proxy_model_exits_2() -> None:
    result = semsearch("proxy", "--model", "no-such-model", "--port", "0")
    assert result.returncode == 2
    assert "unknown model 'no-such-model'" in result.stderr


def test_tls_and_token_flags_that_cannot_work_exit_2_before_any_call(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82\x01\x0a")
    target = ["--target", f"127.0.0.1:{free_port()}"]  # never reached: the flags fail first
    cases = [
        (
            semsearch("status", *target, "--tls-ca", str(not_pem)),
            f"--tls-ca: {not_pem} holds no PEM certificate",
        ),
        (semsearch("status", *target, "--tls-ca", str(tmp_path / "none.crt")), "--tls-ca: cannot read"),
        (
            semsearch("watch", *target, env={"SEMSEARCH_TOKEN": "two words"}),
            "the bearer token in $SEMSEARCH_TOKEN: token must be a non-empty string of visible ASCII",
        ),
    ]
    for result, complaint in cases:
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"semsearch: {complaint}"), result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
