"""The sweep's progress line on stderr: runs done / failed / running and the ETA.

On a terminal one line is redrawn in place; elsewhere (a log file, CI) a line is printed
each time a run ends.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class SweepProgress:
    def __init__(self, total: int, done: int = 0, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total, self.done, self.failed, self.running = total, done, 0, 0
        self._start_done = done
        self._start = time.monotonic()
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._tty = enabled and self._stream.isatty()
        self._drawn = 0.0

    def update(self, done: int, failed: int, running: int, ended: bool = False) -> None:
        """Record the counts; redraw (a terminal: at most 5 times a second) or print a line
        if a run has just ``ended``."""
        self.done, self.failed, self.running = done, failed, running
        if not self._enabled:
            return
        now = time.monotonic()
        if self._tty and (ended or now - self._drawn >= 0.2):
            self._drawn = now
            self._stream.write("\r\033[K" + self.line())
            self._stream.flush()
        elif not self._tty and ended:
            print(self.line(), file=self._stream, flush=True)

    def line(self) -> str:
        width = 20
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        return (f"sweep [{bar}] {self.done}/{self.total} done, {self.failed} failed, "
                f"{self.running} running, ETA {self.eta()}")

    def eta(self) -> str:
        finished = self.done - self._start_done
        left = self.total - self.done
        if left <= 0:
            return "0:00"
        if finished <= 0:
            return "?"
        seconds = int((time.monotonic() - self._start) / finished * left)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
