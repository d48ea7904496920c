"""Progress while a job runs: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

__all__ = ["Progress"]

log = logging.getLogger("gpusettle.worker")


class Progress:
    """Call `update(fraction, message)` as the job advances and `close()` at the end."""

    def __init__(
        self, label: str, stream: TextIO | None = None, width: int = 30, every: float = 10.0
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.every = every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_log = 0.0
        self._last_decile = -1
        self._drawn = False

    def update(self, fraction: float, message: str = "") -> None:
        """Report how far the job is (0 to 1)."""
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.monotonic() - self.started
        if self.tty:
            filled = round(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(
                f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {elapsed:6.1f}s {message[:40]:<40}"
            )
            self.stream.flush()
            self._drawn = True
            return
        decile = int(fraction * 10)
        now = time.monotonic()
        if decile > self._last_decile or now - self._last_log >= self.every:
            self._last_decile = decile
            self._last_log = now
            log.info("%s: %.0f%% after %.1f s %s", self.label, fraction * 100, elapsed, message)

    def close(self, message: str = "done") -> None:
        """Finish the bar (or log the end)."""
        elapsed = time.monotonic() - self.started
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        log.info("%s: %s after %.1f s", self.label, message, elapsed)
