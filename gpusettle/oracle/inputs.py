"""Client input files on disk: uploaded (signed by the client's account key) before the job exists,
named by their sha256, fetched by the worker, pruned a fixed time after their last upload.

Layout of the inputs directory: `<sha256>` is an input named by its sha256 (64 hex digits);
`<sha256>.meta` is a JSON line {"signer", "size", "uploaded_at"} (the quota and the retention read it);
`.upload-*` are uploads in progress, renamed into place only once complete and hashed.

Quota: keys are free to make, so two bounds hold together: each signer may upload at most `files`
inputs and `bytes` bytes per rolling `window`, and all inputs on disk (with the uploads in progress)
never exceed `total_bytes`. An upload's size is signed and reserved before its body is read, so an
upload over quota costs the oracle nothing but the signature check.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .uploads import Upload, is_hex_name, sweep

__all__ = ["InputFiles", "InputQuota", "QuotaExceeded", "Reservation", "valid_input_name"]

log = logging.getLogger("gpusettle.oracle.inputs")


def _sha256() -> Any:
    return hashlib.sha256()


def valid_input_name(name: str) -> bool:
    """Whether `name` is a sha256 as 64 lowercase hex digits."""
    return is_hex_name(name)


@dataclass(frozen=True)
class InputQuota:
    """How much one signer may upload, and how much all inputs may take on disk."""

    window: float = 86400.0
    """The rolling window of the per-signer limits, seconds."""
    files: int = 200
    """Inputs one signer may upload per window."""
    bytes: int = 4 * 1024**3
    """Bytes one signer may upload per window."""
    total_bytes: int = 64 * 1024**3
    """Bytes all stored inputs (and uploads in progress) may take together."""


class QuotaExceeded(Exception):
    """An upload would exceed a quota; `reason` says which and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Reservation:
    """Room held for one upload until it is committed or released."""

    signer: str
    size: int
    at: float


class InputFiles:
    """The inputs directory and its ledger (thread-safe: uploads commit on the files pool)."""

    def __init__(self, directory: Path, quota: InputQuota | None = None) -> None:
        self.directory = directory
        self.quota = quota or InputQuota()
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._uploads: dict[str, deque[tuple[float, int]]] = {}
        """Per signer (lowercase): (time, size) of its uploads inside the window, oldest first."""
        self._stored: dict[str, int] = {}
        """Bytes of each input on disk."""
        self._reserved = 0
        for meta in directory.glob("*.meta"):
            name = meta.name.removesuffix(".meta")
            doc = self._read_meta(name)
            if doc is None or not self.path(name).exists():
                continue
            self._stored[name] = int(doc["size"])
            queue = self._uploads.setdefault(str(doc["signer"]).lower(), deque())
            queue.append((float(doc["uploaded_at"]), int(doc["size"])))
        for queue in self._uploads.values():
            ordered = sorted(queue)
            queue.clear()
            queue.extend(ordered)

    def path(self, name: str) -> Path:
        """Where the input `name` (a validated sha256) lives."""
        return self.directory / name

    def _read_meta(self, name: str) -> dict[str, Any] | None:
        try:
            doc = json.loads((self.directory / f"{name}.meta").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or not {"signer", "size", "uploaded_at"} <= doc.keys():
            return None
        return doc

    def _write_meta(self, name: str, signer: str, size: int, at: float) -> None:
        part = self.directory / f".upload-{name}.meta"
        with part.open("w", encoding="utf-8") as fh:
            json.dump({"signer": signer, "size": size, "uploaded_at": at}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, self.directory / f"{name}.meta")

    # -- quota -----------------------------------------------------------------------------------------

    def reserve(self, signer: str, size: int, now: float) -> Reservation:
        """Hold room for an upload of `size` bytes by `signer`; QuotaExceeded says why not."""
        q = self.quota
        with self._lock:
            queue = self._uploads.setdefault(signer.lower(), deque())
            while queue and now - queue[0][0] > q.window:
                queue.popleft()
            used = sum(s for _, s in queue)
            hours = q.window / 3600
            if len(queue) + 1 > q.files:
                raise QuotaExceeded(
                    f"{signer} uploaded {len(queue)} inputs in the last {hours:g} h; at most {q.files} are "
                    "accepted per signer: wait, or pack small inputs into one archive"
                )
            if used + size > q.bytes:
                raise QuotaExceeded(
                    f"{signer} uploaded {used} bytes in the last {hours:g} h; this {size}-byte input would "
                    f"pass the {q.bytes}-byte quota per signer: wait, or serve large inputs from your own "
                    "URL (url + sha256 + size in the spec)"
                )
            total = sum(self._stored.values()) + self._reserved
            if total + size > q.total_bytes:
                raise QuotaExceeded(
                    f"this oracle holds {total} bytes of inputs, {q.total_bytes} at most; retry after the "
                    "retention prunes old inputs, or serve the input from your own URL"
                )
            # Counted at once, so that parallel uploads cannot pass the quota together.
            queue.append((now, size))
            self._reserved += size
        return Reservation(signer.lower(), size, now)

    def release(self, reservation: Reservation) -> None:
        """Give back the room of an upload that failed (it does not count against the quota)."""
        with self._lock:
            self._reserved -= reservation.size
            queue = self._uploads.get(reservation.signer)
            if queue is not None:
                with contextlib.suppress(ValueError):
                    queue.remove((reservation.at, reservation.size))

    def _settle(self, reservation: Reservation, name: str) -> None:
        with self._lock:
            self._reserved -= reservation.size
            self._stored[name] = reservation.size

    # -- uploads (blocking: run on the files pool) -----------------------------------------------------

    def stored_size(self, name: str) -> int | None:
        """The size of the stored input `name`, None when there is none."""
        try:
            return self.path(name).stat().st_size
        except OSError:
            return None

    def begin(self, limit: int) -> Upload:
        """A new upload of at most `limit` bytes, hashed with sha256."""
        return Upload(self.directory, limit, hasher=_sha256)

    def finish(self, upload: Upload, name: str, reservation: Reservation) -> bool:
        """Put a complete upload in place if it hashes to `name`; False (and the upload dropped) when
        the hash differs. The reservation is settled either way only on success."""
        if upload.digest() != "0x" + name:
            upload.abort()
            return False
        upload.commit(self.path(name))
        self._write_meta(name, reservation.signer, upload.size, reservation.at)
        self._settle(reservation, name)
        return True

    def refresh(self, name: str, reservation: Reservation) -> None:
        """The input is already here: its retention starts again from this upload (which the signer's
        quota counts, as if the bytes had been sent)."""
        self._write_meta(name, reservation.signer, reservation.size, reservation.at)
        self._settle(reservation, name)

    # -- retention -------------------------------------------------------------------------------------

    def prune(self, keep_seconds: float, now: float) -> list[str]:
        """Remove inputs uploaded (last) more than `keep_seconds` ago, and stale partial uploads;
        returns the names removed."""

        def expired(entry: Path) -> bool:
            doc = self._read_meta(entry.name)
            uploaded_at = float(doc["uploaded_at"]) if doc else entry.stat().st_mtime
            return now - uploaded_at > keep_seconds

        removed = sweep(self.directory, now, valid_input_name, expired, ".meta")
        with self._lock:
            for name in removed:
                self._stored.pop(name, None)
        if removed:
            log.info("pruned %d input file(s) past their retention", len(removed))
        return removed
