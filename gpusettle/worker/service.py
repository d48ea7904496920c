"""One lease's service process, kept running: started in its own process group (supervise), restarted
with exponential backoff each time it dies (a series of quick deaths waits 1, 2, 4 ... seconds, capped;
a run that lasted `stable_after` seconds starts a new series), stopped with its whole group.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..workloads.supervise import Watch, supervise

__all__ = ["LeaseService"]

log = logging.getLogger("gpusettle.worker.leases")


class LeaseService:
    """One lease's workload, kept running: restarted with exponential backoff when it dies."""

    def __init__(
        self,
        lease_id: int,
        argv: Sequence[str],
        work_dir: Path,
        env: Mapping[str, str],
        *,
        on_start: Callable[[int], None] | None = None,
        on_exit: Callable[[int | None, float], None] | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        stable_after: float = 60.0,
    ) -> None:
        self.lease_id = lease_id
        self.argv = list(argv)
        self.work_dir = work_dir
        self.env = dict(env)
        self.on_start = on_start
        self.on_exit = on_exit
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stable_after = stable_after
        self.restarts = 0
        self.pid: int | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """The service's process is running now."""
        return self.pid is not None

    def start(self) -> LeaseService:
        """Start the service and its keeper thread."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._keep, name=f"lease-{self.lease_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the service (its whole process group) and wait for the keeper."""
        self._cancel.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def backoff(self, attempt: int) -> float:
        """The pause before restart number `attempt + 1` after quick deaths: base x 2^attempt, capped."""
        return float(min(self.backoff_cap, self.backoff_base * 2.0 ** min(attempt, 30)))

    def _started(self, pgid: int) -> None:
        self.pid = pgid
        if self.on_start is not None:
            self.on_start(pgid)

    def _keep(self) -> None:
        attempt = 0
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        while not self._cancel.is_set():
            began = time.monotonic()
            code: int | None = None
            try:
                with (logs / "stdout.log").open("ab") as out, (logs / "stderr.log").open("ab") as err:
                    ended = supervise(
                        self.argv,
                        cwd=self.work_dir,
                        stdout=out,
                        stderr=err,
                        env=self.env,
                        watch=Watch(cancel=self._cancel, on_start=self._started, poll_interval=0.1),
                    )
                code = ended.code
            except OSError as exc:
                log.error("lease %d: cannot start %r: %s", self.lease_id, self.argv[0], exc.strerror or exc)
            self.pid = None
            if self._cancel.is_set():
                break
            if time.monotonic() - began >= self.stable_after:
                attempt = 0  # it ran well for a while: this death starts a new series
            delay = self.backoff(attempt)
            attempt += 1
            self.restarts += 1
            log.warning(
                "lease %d: the service exited (status %s); restart %d in %.1f s",
                self.lease_id,
                code,
                self.restarts,
                delay,
            )
            if self.on_exit is not None:
                self.on_exit(code, delay)
            self._cancel.wait(delay)
