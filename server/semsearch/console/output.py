"""Where the client commands write: rich on a terminal, plain lines in a pipe, JSON on request."""

from __future__ import annotations

import io
import json
import sys
from typing import Any, TextIO

from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console, RenderableType

# Plain output is never wrapped: one table row stays one line, whatever the pipe's idea of width.
PLAIN_WIDTH = 10_000


def render_text(renderable: RenderableType, width: int) -> str:
    """The renderable as plain text at ``width`` columns, trailing spaces removed (tests use this)."""
    console = Console(
        file=io.StringIO(), width=width, color_system=None, highlight=False, emoji=False, soft_wrap=False
    )
    with console.capture() as captured:
        console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in captured.get().splitlines())


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


class Output:
    """stdout for results, stderr for notes; rich styling only when stdout is a terminal."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.console = Console(file=self.stdout, highlight=False, emoji=False)
        self.err_console = Console(file=self.stderr, highlight=False, emoji=False)

    @property
    def terminal(self) -> bool:
        return self.console.is_terminal

    def show(self, renderable: RenderableType) -> None:
        if self.terminal:
            self.console.print(renderable)
        else:
            self.stdout.write(render_text(renderable, PLAIN_WIDTH))
            self.stdout.flush()

    def json(self, document: Any, indent: int | None = 2) -> None:
        self.stdout.write(json.dumps(document, indent=indent, ensure_ascii=False) + "\n")
        self.stdout.flush()

    def note(self, line: str, style: str = "") -> None:
        """One line to stderr, styled on a terminal, never parsed as markup."""
        self.err_console.print(line, style=style or None, markup=False, soft_wrap=True)
