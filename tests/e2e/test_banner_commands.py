"""The startup banner's commands run as printed, against the server that printed them.

`semsearch serve` starts with the bundled provider (hash-v1, fast) on the project's own docs, as
`make run` does; every command line of its banner is then run by a shell from the folder the server
was started in, and must succeed: the client commands, buf curl (when `npm ci` installed buf), and
the curl of the bundled provider's model switch, whose address the banner names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from pathlib import Path

import grpc
import pytest

from semsearch.banner import NODE_BUF
from tests.support.corpora import REPO
from tests.support.process import all_ready, wait_for_states, write_config

DOCS = [
    {"name": "guide", "kind": "markdown", "path": str(REPO / "docs" / "guide")},
    {"name": "runbooks", "kind": "markdown", "path": str(REPO / "docs" / "runbooks")},
]
LAST_LINE = re.compile(r"^\s+curl -s (http://127\.0\.0\.1:\d+/admin/model)$")
COMMAND_TIMEOUT = 60.0


async def read_banner(stdout: asyncio.StreamReader) -> list[str]:
    """The banner's lines, up to the model switch's curl (the last one with a bundled provider)."""
    lines: list[str] = []
    async with asyncio.timeout(120):
        while True:
            line = (await stdout.readline()).decode()
            assert line, "semsearch serve exited before its banner ended:\n" + "".join(lines)
            lines.append(line.rstrip("\n"))
            if LAST_LINE.match(lines[-1]):
                return lines


async def run_shell(line: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_shell(
        line, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def interrupt_watch(line: str) -> tuple[int, str]:
    """Run a `watch` line until it has printed the table, then Ctrl-C it (SIGINT)."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"exec {line}",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        header = (await asyncio.wait_for(process.stdout.readline(), COMMAND_TIMEOUT)).decode()
        process.send_signal(signal.SIGINT)
        return await asyncio.wait_for(process.wait(), COMMAND_TIMEOUT), header
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.slow
async def test_every_command_of_the_banner_runs_as_printed(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "semsearch.toml", "", DOCS, embeddings={"proxy_port": 0, "batch_size": 64}
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        "serve",
        "--config",
        str(config),
        "--listen",
        "127.0.0.1:0",
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own process group: a failed test stops its bundled provider too
    )
    try:
        assert process.stdout is not None
        banner = await read_banner(process.stdout)
        address = re.search(r"serving on (127\.0\.0\.1:\d+)", "\n".join(banner))
        assert address is not None, banner
        commands = [line.strip() for line in banner if line.startswith("  ") and line.strip()[0] != "#"]
        cli = commands[0].split()[0]
        assert cli == "semsearch" or cli.endswith("bin/semsearch"), commands
        assert all(f"--target {address.group(1)}" in c for c in commands if c.startswith(cli)), commands

        async with grpc.aio.insecure_channel(address.group(1)) as channel:
            await wait_for_states(channel, all_ready)

        ran = []
        for command in commands:
            if command.startswith(f"{cli} watch"):
                code, header = await interrupt_watch(command)
                assert (code, header.split()[:3]) == (0, ["INDEX", "KIND", "STATE"]), command
            elif "buf curl" in command and not (REPO / NODE_BUF).exists() and command.startswith(NODE_BUF):
                continue  # buf comes with `npm ci`; the banner says so when it is missing
            else:
                code, out, err = await run_shell(command)
                assert code == 0, f"{command}\nexit {code}\n{out}\n{err}"
                if command.startswith(f"{cli} search"):
                    assert re.match(r"\d+ hits? for ", out), out
                if command.startswith("curl"):
                    assert json.loads(out) == {"model": "hash-v1", "dimensions": 384}
            ran.append(command.split()[:2])
        assert [cli, "status"] in ran and [cli, "search"] in ran and ["curl", "-s"] in ran
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
