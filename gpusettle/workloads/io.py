"""A client job's data in and out.

In: each input file is fetched by URL (only from allowed prefixes), at most its declared size,
resuming a partial download with an HTTP Range request, and must hash to its declared sha256.

Out: the files the program wrote to its output directory (regular files only: a symlink the program
left could point at the worker's own secrets, and the packer runs with the worker's rights), its
logs' tails and a `result.json` are packed into an uncompressed tar and sealed to the client's X25519
public key with libsodium's sealed box (PyNaCl), which carries a fresh libsodium secretstream key for the tar (see `seal`): only
the holder of the client's secret key can open it. The receipt's result hash is keccak256 of the ciphertext.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import stat
import struct
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from nacl import bindings
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from ..errors import GpusettleError
from ..models import InputFile

__all__ = [
    "ArchiveError",
    "InputError",
    "OutputReadError",
    "OutputTooLarge",
    "SealError",
    "Sealer",
    "check_public_key",
    "fetch_inputs",
    "open_sealed",
    "pack_and_seal",
    "pack_outputs",
    "seal",
    "unpack",
]

_CHUNK = 1 << 20


class InputError(GpusettleError):
    """An input could not be had as the spec describes it (the client's failure)."""


class OutputTooLarge(GpusettleError):
    """The program's outputs exceed the provider's limit."""


class OutputReadError(GpusettleError):
    """The worker could not read the program's outputs for reasons of its own (out of descriptors or
    memory, an I/O error): the provider's failure, never an archive with outputs missing."""


class ArchiveError(GpusettleError):
    """An opened result is not an archive this client will unpack (sparse, or too large)."""


class SealError(GpusettleError):
    """The client's key cannot be sealed to, or a sealed result cannot be opened."""


def check_public_key(key_hex: str) -> PublicKey:
    """The client's X25519 key; SealError when libsodium cannot seal to it (e.g. a low-order point)."""
    try:
        key = PublicKey(bytes.fromhex(key_hex.removeprefix("0x")))
        SealedBox(key).encrypt(b"")
    except (ValueError, CryptoError, TypeError) as exc:
        raise SealError(
            f"the spec's encrypt_to {key_hex} is not a valid X25519 public key ({exc})",
            "make a key with `gpusettle wallet encryption-key` and put its public half in the spec",
        ) from None
    return key


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_and_segments(url: str) -> tuple[tuple[str, str, int], list[str]] | None:
    """(scheme, host, port) and the path's segments, percent-decoded with "." segments dropped, or
    None when the URL could step out of a prefix: a ".." segment (also as %2e%2e), a segment that
    decodes to a slash or backslash (servers differ on %2f), userinfo, or no host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    segments = []
    for raw in parts.path.split("/")[1:]:
        segment = unquote(raw)
        if segment == ".." or "/" in segment or "\\" in segment:
            return None
        if segment != ".":
            segments.append(segment)
    return (scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]), segments


def _allowed(url: str, prefixes: Sequence[str]) -> bool:
    """Whether `url` lies under one of `prefixes`, compared as normalized URLs, not as text: httpx
    removes dot segments before sending, so `{prefix}/../admin` must not pass a text check."""
    target = _origin_and_segments(url)
    if target is None:
        return False
    for prefix in prefixes:
        allowed = _origin_and_segments(prefix)
        if allowed is None:
            continue
        base = [s for s in allowed[1] if s]  # a trailing slash is no segment
        if allowed[0] == target[0] and target[1][: len(base)] == base and len(target[1]) > len(base):
            return True
    return False


def _fetch_one(item: InputFile, target: Path, client: httpx.Client) -> None:
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > item.size:
        part.unlink()
        have = 0
    hasher = hashlib.sha256()
    if have:
        with part.open("rb") as old:
            while chunk := old.read(_CHUNK):
                hasher.update(chunk)
    headers = {"Range": f"bytes={have}-"} if have and have < item.size else {}
    if have < item.size or item.size == 0:
        try:
            with client.stream("GET", item.url, headers=headers) as response:
                if response.status_code == 200 and have:
                    have = 0  # the server ignored the range: start over
                    hasher = hashlib.sha256()
                elif response.status_code not in (200, 206):
                    raise InputError(f"input {item.path}: {item.url} answered HTTP {response.status_code}")
                with part.open("r+b" if have else "wb") as out:
                    out.seek(have)
                    out.truncate()
                    for chunk in response.iter_bytes(_CHUNK):
                        have += len(chunk)
                        if have > item.size:
                            raise InputError(
                                f"input {item.path}: {item.url} sent more than its declared {item.size} bytes"
                            )
                        hasher.update(chunk)
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise InputError(f"input {item.path}: cannot fetch {item.url}: {exc}") from None
    if have != item.size:
        raise InputError(f"input {item.path}: {item.url} sent fewer bytes than the spec's {item.size}")
    digest = hasher.hexdigest()
    if digest != item.sha256:
        part.unlink()
        # what came back is not named (its hash or size): the reason is public, the file may not be
        raise InputError(
            f"input {item.path}: the file at {item.url} does not hash to the spec's sha256 {item.sha256}"
        )
    os.chmod(part, 0o444)
    part.replace(target)


def fetch_inputs(
    inputs: Sequence[InputFile],
    directory: Path,
    *,
    allowed_prefixes: Sequence[str],
    max_total_bytes: int,
    timeout: float = 60.0,
) -> None:
    """Fetch and check every input into `directory`; InputError says which one failed and why."""
    total = sum(i.size for i in inputs)
    if total > max_total_bytes:
        raise InputError(f"the inputs total {total} bytes; this provider accepts at most {max_total_bytes}")
    for item in inputs:
        if not _allowed(item.url, allowed_prefixes):
            raise InputError(
                f"input {item.path}: {item.url} is not an allowed source "
                f"(this provider fetches from {', '.join(allowed_prefixes) or 'nowhere'})"
            )
    directory.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for item in inputs:
            target = directory / item.path
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _fetch_one(item, target, client)


def _tail(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            return handle.read()
    except OSError:
        return b""


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


_PROGRAMS_DOING = frozenset(
    {errno.ELOOP, errno.ENOENT, errno.ENXIO, errno.EACCES, errno.EPERM, errno.ENOTDIR}
)
"""Why an output cannot be opened when the program made it so (a link, a socket, a mode of 0, a name
removed or replaced): such names are skipped. Any other error is the worker's and fails the pack."""


def _worker_error(path: Path, exc: OSError, what: str) -> OutputReadError:
    return OutputReadError(
        f"the worker could not {what} {path}: {exc.strerror or exc}",
        "the provider's machine is short of open files, memory or disk; raise its limits and restart",
    )


def _open_regular(path: Path) -> tuple[int, int] | None:
    """An open descriptor and the size of `path` when it is a regular file (never through a link);
    None when the program made it something else or unreadable; OutputReadError for the worker's own
    failures."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in _PROGRAMS_DOING:
            return None
        raise _worker_error(path, exc, "open") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    return fd, info.st_size


MAX_OUTPUT_FILES = 10_000
"""The most output files one result carries; more are left out and counted in result.json."""


def pack_outputs(
    out_dir: Path | None,
    *,
    logs: Mapping[str, Path],
    result: Mapping[str, Any],
    max_bytes: int,
    log_tail: int,
    sink: Any = None,
    max_files: int = MAX_OUTPUT_FILES,
) -> tuple[bytes, list[str]]:
    """The tar of `out_dir`'s regular files (under out/), the logs' tails (under logs/) and result.json;
    also the names skipped (links, devices). OutputTooLarge when the files exceed `max_bytes`. Files
    past the first `max_files` are left out; result.json says how many. With a `sink` (a writer such
    as `Sealer`) the tar streams into it and b"" is returned.

    One output file is open at a time (a job's outputs could otherwise exhaust the worker's open
    files, and a file that failed to open was silently skipped)."""
    files: list[tuple[str, int]] = []
    skipped: list[str] = []
    over_limit = 0
    total = 0
    if out_dir is not None and out_dir.is_dir() and not out_dir.is_symlink():

        def walk_error(exc: OSError) -> None:
            # os.walk drops what it cannot list unless told: an archive missing outputs would be signed
            where = Path(exc.filename) if exc.filename else out_dir
            if exc.errno not in _PROGRAMS_DOING:
                raise _worker_error(where, exc, "list") from exc
            if where != out_dir:
                skipped.append(where.relative_to(out_dir).as_posix())

        for root, dirs, names in os.walk(out_dir, onerror=walk_error, followlinks=False):
            dirs.sort()
            for name in sorted(names):
                path = Path(root) / name
                rel = path.relative_to(out_dir).as_posix()
                if len(files) >= max_files:
                    over_limit += 1
                    continue
                opened = _open_regular(path)
                if opened is None:
                    skipped.append(rel)
                    continue
                os.close(opened[0])
                total += opened[1]
                files.append((rel, opened[1]))
                if total > max_bytes:
                    raise OutputTooLarge(
                        f"the outputs are more than {max_bytes} bytes, the provider's limit",
                        "write less to /job/out, or ask the provider for a larger output limit",
                    )
    buffer = io.BytesIO() if sink is None else sink
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.copybufsize = _CHUNK  # type: ignore[attr-defined]  # 16 KiB copies otherwise
        summary = {**result, "skipped": skipped}
        if over_limit:
            summary.update(files_over_limit=over_limit, max_files=max_files)
        body = json.dumps(summary, indent=2, sort_keys=True).encode()
        _add(tar, "result.json", body)
        for name, path in logs.items():
            _add(tar, f"logs/{name}", _tail(path, log_tail))
        assert out_dir is not None or not files
        for rel, size in files:
            opened = _open_regular(out_dir / rel) if out_dir is not None else None
            if opened is None:
                continue  # gone or replaced since it was measured (the program has ended: not expected)
            fd, now = opened
            info = tarfile.TarInfo(f"out/{rel}")
            info.size = min(size, now)
            info.mode = 0o644
            with os.fdopen(fd, "rb") as handle:
                tar.addfile(info, handle)
    return (buffer.getvalue() if sink is None else b""), skipped


SEALED_MAGIC = b"GSSEAL1\n"
"""The first bytes of every sealed result."""
_MAGIC = SEALED_MAGIC
_STREAM_CHUNK = 1 << 20
_TAG_FINAL = bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_ABYTES = bindings.crypto_secretstream_xchacha20poly1305_ABYTES


class Sealer:
    """A writer that seals what is written to it (see `seal`) as it comes, 1 MiB at a time.

    The ciphertext goes into a BytesIO, whose buffer grows in place and becomes the result without a
    copy; the plaintext passes through one reused chunk buffer. Fresh large allocations cost page
    faults, which outweighed the copies on the machines measured (see the sandbox bench)."""

    def __init__(self, key_hex: str) -> None:
        public = check_public_key(key_hex)
        stream_key = bindings.crypto_secretstream_xchacha20poly1305_keygen()
        sealed_key = SealedBox(public).encrypt(stream_key)
        self._state = bindings.crypto_secretstream_xchacha20poly1305_state()
        header = bindings.crypto_secretstream_xchacha20poly1305_init_push(self._state, stream_key)
        self._out = io.BytesIO()
        self._out.write(_MAGIC + struct.pack(">H", len(sealed_key)) + sealed_key + header)
        self._pending = bytearray(_STREAM_CHUNK)
        self._filled = 0
        self._written = 0

    def _push(self, chunk: bytes, tag: int) -> None:
        sealed = bindings.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, tag=tag)
        self._out.write(struct.pack(">I", len(sealed)))
        self._out.write(sealed)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take more plaintext. A full chunk is sealed only once more data follows it, so the last
        chunk, whatever its size, carries the final tag."""
        view = memoryview(data).cast("B")
        size = len(view)
        at = 0
        while at < size:
            if self._filled == _STREAM_CHUNK:
                self._push(bytes(self._pending), 0)
                self._filled = 0
            take = min(_STREAM_CHUNK - self._filled, size - at)
            self._pending[self._filled : self._filled + take] = view[at : at + take]
            self._filled += take
            at += take
        self._written += size
        return size

    def tell(self) -> int:
        """Plaintext bytes written so far (tarfile asks)."""
        return self._written

    def finish(self) -> bytes:
        """The sealed result."""
        self._push(bytes(memoryview(self._pending)[: self._filled]), _TAG_FINAL)
        self._filled = 0
        return self._out.getvalue()


def seal(data: bytes | memoryview, key_hex: str) -> bytes:
    """`data` sealed to the client's X25519 public key.

    libsodium's constructions only: a fresh XChaCha20-Poly1305 secretstream key, sealed to the
    client with a sealed box, encrypts `data` in 1 MiB chunks (so large outputs stream at the cipher's
    speed, and a truncated ciphertext is detected by the missing final tag). Layout:
    magic | u16 len | sealed stream key | stream header | (u32 len | chunk)*.
    """
    sealer = Sealer(key_hex)
    sealer.write(data)
    return sealer.finish()


def pack_and_seal(
    out_dir: Path | None,
    *,
    logs: Mapping[str, Path],
    result: Mapping[str, Any],
    max_bytes: int,
    log_tail: int,
    key_hex: str,
) -> bytes:
    """`pack_outputs` streamed straight into a `Sealer`: no plaintext copy of the whole archive."""
    sealer = Sealer(key_hex)
    pack_outputs(out_dir, logs=logs, result=result, max_bytes=max_bytes, log_tail=log_tail, sink=sealer)
    return sealer.finish()


def open_sealed(ciphertext: bytes, secret_key: bytes) -> bytes:
    """Open a sealed result with the client's X25519 secret key."""
    refused = SealError(
        "the result cannot be opened with this key",
        "it was sealed to another key, or altered: use the account whose encryption key the spec names",
    )
    view = memoryview(ciphertext)
    if bytes(view[: len(_MAGIC)]) != _MAGIC or len(view) < len(_MAGIC) + 2:
        raise refused
    at = len(_MAGIC)
    (key_len,) = struct.unpack(">H", view[at : at + 2])
    at += 2
    try:
        stream_key = SealedBox(PrivateKey(secret_key)).decrypt(bytes(view[at : at + key_len]))
        at += key_len
        state = bindings.crypto_secretstream_xchacha20poly1305_state()
        header_len = bindings.crypto_secretstream_xchacha20poly1305_HEADERBYTES
        bindings.crypto_secretstream_xchacha20poly1305_init_pull(
            state, bytes(view[at : at + header_len]), stream_key
        )
        at += header_len
        parts = []
        tag = 0
        while at < len(view):
            (size,) = struct.unpack(">I", view[at : at + 4])
            at += 4
            if size < _ABYTES or tag == _TAG_FINAL:
                raise refused
            plain, tag = bindings.crypto_secretstream_xchacha20poly1305_pull(
                state, bytes(view[at : at + size])
            )
            parts.append(plain)
            at += size
    except (CryptoError, struct.error, ValueError):
        raise refused from None
    if tag != _TAG_FINAL:
        raise refused  # cut short
    return b"".join(parts)


UNPACK_MAX_BYTES = 64 << 30
"""The most an unpacked result may take on the client's disk, whatever the archive claims."""


def unpack(archive: bytes, destination: Path, *, max_total_bytes: int = UNPACK_MAX_BYTES) -> list[str]:
    """Unpack a result tar into `destination` (regular files only, no path outside it).

    Every member is checked before any is read: a sparse member (its holes expand on reading, so a
    few KiB could become any size in memory) or members over `max_total_bytes` in all refuse the
    whole archive with ArchiveError. A non-sparse member's data is in the archive itself, so the
    total is also at most the archive's length."""
    written = []
    root = destination.resolve()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        members = tar.getmembers()
        total = 0
        for member in members:
            if member.issparse():
                raise ArchiveError(
                    f"the result's member {member.name!r} is a sparse file; results never hold one",
                    "the archive was not made by a gpusettle worker: do not trust it, report the provider",
                )
            if member.isfile():
                total += member.size
        if total > max_total_bytes:
            raise ArchiveError(
                f"the result's files total {total} bytes, more than the {max_total_bytes} this unpacks",
                "free space and pass a larger bound, or report the provider if the size is not expected",
            )
        for member in members:
            name = PurePosixPath(member.name)
            if not member.isfile() or name.is_absolute() or ".." in name.parts:
                continue
            target = (root / name).resolve()
            if root not in target.parents:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            written.append(name.as_posix())
    return written
