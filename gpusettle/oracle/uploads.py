"""What the results and inputs directories share: a streamed upload hashed on the way, file names that
are a hash in lowercase hex, and the sweep that prunes a directory of such files.

Both directories keep `.upload-*` files for uploads in progress (renamed into place only once complete
and hashed) and, beside each stored file, one sidecar (`<name><suffix>`) that its retention reads.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["STALE_UPLOAD", "Upload", "is_hex_name", "keccak_hasher", "sweep"]

STALE_UPLOAD = 3600.0
"""Seconds after which an unfinished upload's temporary file is removed."""


def keccak_hasher() -> Any:
    """An incremental keccak256 (update(), digest()): a payload is hashed as it streams in."""
    try:
        from sha3 import keccak_256  # safe-pysha3, the fast backend gpusettle.hashing prefers

        return keccak_256()
    except ImportError:
        from Crypto.Hash import keccak

        return keccak.new(digest_bits=256)


def is_hex_name(name: str, prefix: str = "") -> bool:
    """Whether `name` is `prefix` followed by a 32-byte hash as 64 lowercase hex digits."""
    if len(name) != len(prefix) + 64 or not name.startswith(prefix) or name != name.lower():
        return False
    try:
        bytes.fromhex(name[len(prefix) :])
    except ValueError:
        return False
    return True


class Upload:
    """One file being written: a temporary file and its running hash. Blocking: use a worker thread."""

    def __init__(self, directory: Path, limit: int, hasher: Callable[[], Any] = keccak_hasher) -> None:
        self.limit = limit
        self.size = 0
        self.path = directory / f".upload-{secrets.token_hex(8)}"
        self._file: BinaryIO = self.path.open("xb")
        self._hash = hasher()

    def write(self, chunk: bytes) -> bool:
        """Append a chunk; False (and nothing written) once the payload would exceed `limit`."""
        if self.size + len(chunk) > self.limit:
            return False
        self._hash.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)
        return True

    def digest(self) -> str:
        """0x + the hash (keccak256 unless told otherwise) of what was written."""
        return "0x" + bytes(self._hash.digest()).hex()

    def commit(self, final: Path) -> None:
        """Flush, fsync and rename into place (an existing payload with that hash is the same bytes)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.chmod(self.path, 0o644)
        os.replace(self.path, final)

    def abort(self) -> None:
        """Drop the partial payload."""
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def sweep(
    directory: Path,
    now: float,
    valid: Callable[[str], bool],
    expired: Callable[[Path], bool],
    sidecar: str,
) -> list[str]:
    """Remove the stale `.upload-*` files of `directory`, and each file whose name is `valid` and which
    `expired(entry)` says is past its retention, with its `<name><sidecar>`; returns the names removed.
    An entry whose `expired` raises OSError (it went away meanwhile) is left for the next sweep."""
    removed: list[str] = []
    for entry in directory.iterdir():
        name = entry.name
        if name.startswith(".upload-"):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > STALE_UPLOAD:
                    entry.unlink()
            continue
        if not valid(name):
            continue
        try:
            if not expired(entry):
                continue
        except OSError:
            continue
        removed.append(name)
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
        with contextlib.suppress(FileNotFoundError):
            (directory / f"{name}{sidecar}").unlink()
    return removed
