"""A plain progress bar on stderr: `[3/12] [#####---------------] room_101 … created 4`.

One line per finished step; on a terminal the step being worked on is shown first and
its line rewritten when it is done."""

from __future__ import annotations

from typing import TextIO

WIDTH = 20
CLEAR_LINE = "\r\033[K"


class Progress:
    """Progress through `total` steps, written to `stream` only when `shown`."""

    def __init__(self, total: int, stream: TextIO, *, shown: bool, live: bool) -> None:
        self.total = total
        self.stream = stream
        self.shown = shown
        self.live = shown and live  # rewrite lines in place (a terminal)
        self.finished = 0
        self._open = False

    def start(self, label: str) -> None:
        """A step begins: on a terminal, say which."""
        if self.live:
            self._write(f"{CLEAR_LINE}{self._prefix(self.finished + 1, self.finished)} "
                        f"{label} …")
            self._open = True

    def done(self, label: str, outcome: str) -> None:
        """A step ended with `outcome` (a few words)."""
        self.finished += 1
        if self.shown:
            start = CLEAR_LINE if self._open else ""
            self._write(f"{start}{self._prefix(self.finished, self.finished)} "
                        f"{label} … {outcome}\n")
            self._open = False

    def close(self) -> None:
        """End a line left open by an interrupted step."""
        if self._open:
            self._write("\n")
            self._open = False

    def _prefix(self, step: int, finished: int) -> str:
        filled = WIDTH * finished // self.total if self.total else WIDTH
        return f"[{step}/{self.total}] [{'#' * filled}{'-' * (WIDTH - filled)}]"

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
