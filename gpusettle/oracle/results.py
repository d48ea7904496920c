"""Result payloads on disk: streamed in with their keccak256 computed on the way, served back as files,
and pruned once nothing can ask for them any more.

Layout of the results directory: `<hash>` is a payload named by its keccak256 (0x + 64 hex digits);
`<hash>.jobs` lists, one per line, the jobs it was uploaded for (the retention policy reads it);
`.upload-*` are uploads in progress, renamed into place only once complete and hashed.

Retention: a payload is kept while any job it was uploaded for may still need it, that is until that
job's receipt is final (settled or rejected) plus the dispute window plus a configurable margin; a
payload whose jobs never got a receipt here (or whose receipts were already pruned) is kept for the
same span after its upload.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..models import ReceiptStatus
from .uploads import STALE_UPLOAD, Upload, is_hex_name, keccak_hasher, sweep

__all__ = ["FINAL_STATUSES", "STALE_UPLOAD", "ResultFiles", "Upload", "keccak_hasher"]

log = logging.getLogger("gpusettle.oracle.results")

FINAL_STATUSES = frozenset({ReceiptStatus.SETTLED, ReceiptStatus.REJECTED})
"""Receipt statuses after which a payload is kept only for the dispute window and the margin."""


def _valid_name(name: str) -> bool:
    return is_hex_name(name, "0x")


class ResultFiles:
    """The results directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """Where the payload `name` (a validated 0x-hash) lives."""
        return self.directory / name

    def begin(self, limit: int) -> Upload:
        """A new upload of at most `limit` bytes."""
        return Upload(self.directory, limit)

    def finish(self, upload: Upload, name: str, job_id: int) -> bool:
        """Put a complete upload in place if it hashes to `name` and record `job_id` against it; False
        (and the upload dropped) when the hash differs."""
        if upload.digest() != name:
            upload.abort()
            return False
        upload.commit(self.path(name))
        self.record_job(name, job_id)
        return True

    def record_job(self, name: str, job_id: int) -> None:
        """Remember that `name` was uploaded for `job_id` (retention follows that job)."""
        if job_id in self.jobs_of(name):
            return
        with (self.directory / f"{name}.jobs").open("a", encoding="ascii") as fh:
            fh.write(f"{job_id}\n")
            fh.flush()
            os.fsync(fh.fileno())

    def jobs_of(self, name: str) -> list[int]:
        """The jobs `name` was uploaded for."""
        try:
            text = (self.directory / f"{name}.jobs").read_text(encoding="ascii")
        except OSError:
            return []
        return [int(line) for line in text.split() if line.isdigit()]

    def lookup(self, result_hash: str) -> bytes | None:
        """The payload's bytes (None when absent): the verifier's PayloadLookup."""
        name = result_hash.lower()
        if not _valid_name(name):
            return None
        try:
            return self.path(name).read_bytes()
        except OSError:
            return None

    def prune(
        self,
        state_of: Callable[[int], tuple[str, float] | None],
        keep_seconds: float,
        now: float | None = None,
    ) -> list[str]:
        """Remove payloads no job can need any more; returns their names.

        `state_of(job_id)` gives a receipt's (status, time of its last change), or None when this oracle
        has no receipt for the job. `keep_seconds` is the dispute window plus the margin."""
        at = time.time() if now is None else now

        def expired(entry: Path) -> bool:
            uploaded_at = entry.stat().st_mtime
            jobs = self.jobs_of(entry.name)
            # No job recorded (an upload from before jobs were recorded): kept for the same span.
            if not jobs:
                return at - uploaded_at > keep_seconds
            return all(self._expired(state_of(job), uploaded_at, keep_seconds, at) for job in jobs)

        removed = sweep(self.directory, at, _valid_name, expired, ".jobs")
        if removed:
            log.info("pruned %d result payload(s) past their retention", len(removed))
        return removed

    @staticmethod
    def _expired(state: tuple[str, float] | None, uploaded_at: float, keep: float, now: float) -> bool:
        if state is None:
            return now - uploaded_at > keep
        status, changed_at = state
        return status in FINAL_STATUSES and now - changed_at > keep
