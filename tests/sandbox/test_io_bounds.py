"""Attacks on the data paths outside the sandbox (issue 13): the client's unpack, the worker's input
fetch and output packing. Plain pytest: no chain, no bubblewrap."""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import json
import os
import resource
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpusettle.models import InputFile
from gpusettle.workloads.io import (
    ArchiveError,
    InputError,
    OutputReadError,
    fetch_inputs,
    pack_outputs,
    unpack,
)


def _sparse_bomb(real: int) -> bytes:
    """A PAX (GNU sparse 1.0) member whose 1 KiB of data reads back as `real` bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("out/bomb")
        info.pax_headers = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.name": "out/bomb",
            "GNU.sparse.realsize": str(real),
        }
        sparse_map = f"1\n{real - 1}\n1\n".encode()
        block = sparse_map + b"\0" * (512 - len(sparse_map)) + b"Z"
        info.size = len(block)
        tar.addfile(info, io.BytesIO(block))
    return buf.getvalue()


def test_a_sparse_member_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = _sparse_bomb(64 << 20)
    assert len(archive) < 16 << 10
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="sparse"):
        unpack(archive, dest)
    assert list(dest.rglob("*")) == []


def test_members_over_the_bound_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("out/a", "out/b"):
            info = tarfile.TarInfo(name)
            info.size = 600
            tar.addfile(info, io.BytesIO(b"x" * 600))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="1000"):
        unpack(buf.getvalue(), dest, max_total_bytes=1000)
    assert list(dest.rglob("*")) == []
    assert unpack(buf.getvalue(), dest, max_total_bytes=1200) == ["out/a", "out/b"]


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture(scope="module")
def hello_server() -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.hits  # type: ignore[attr-defined]
    server.shutdown()


@pytest.mark.parametrize(
    "tail",
    ["/v1/../admin/secret", "/v1/%2e%2e/admin", "/v1/%2E./admin", "/v1/a/../../admin", "/v1/./../admin"],
)
def test_an_input_url_cannot_leave_its_prefix(
    tmp_path: Path, hello_server: tuple[str, list[str]], tail: str
) -> None:
    base, hits = hello_server
    hits.clear()
    item = InputFile(url=f"{base}{tail}", sha256=hashlib.sha256(b"hello").hexdigest(), path="d", size=5)
    with pytest.raises(InputError, match="not an allowed source"):
        fetch_inputs([item], tmp_path / "in", allowed_prefixes=[f"{base}/v1"], max_total_bytes=1 << 20)
    assert hits == []


def test_inputs_in_the_prefix_still_fetch(tmp_path: Path, hello_server: tuple[str, list[str]]) -> None:
    base, _ = hello_server
    item = InputFile(url=f"{base}/v1/a/./b", sha256=hashlib.sha256(b"hello").hexdigest(), path="d", size=5)
    fetch_inputs([item], tmp_path / "in", allowed_prefixes=[f"{base}/v1/"], max_total_bytes=1 << 20)
    assert (tmp_path / "in" / "d").read_bytes() == b"hello"
    other = InputFile(url=f"{base}/v1x/a", sha256=item.sha256, path="e", size=5)
    with pytest.raises(InputError, match="not an allowed source"):
        fetch_inputs([other], tmp_path / "in", allowed_prefixes=[f"{base}/v1"], max_total_bytes=1 << 20)


def test_a_wrong_hash_does_not_echo_what_came_back(
    tmp_path: Path, hello_server: tuple[str, list[str]]
) -> None:
    base, _ = hello_server
    item = InputFile(url=f"{base}/v1/x", sha256="ab" * 32, path="d", size=5)
    with pytest.raises(InputError) as caught:
        fetch_inputs([item], tmp_path / "in", allowed_prefixes=[f"{base}/v1"], max_total_bytes=1 << 20)
    assert hashlib.sha256(b"hello").hexdigest() not in str(caught.value)
    assert "ab" * 32 in str(caught.value)


def _outputs(root: Path, count: int) -> Path:
    out = root / "out"
    out.mkdir()
    for i in range(count):
        (out / f"f{i:04d}").write_bytes(b"%d" % i)
    return out


def _names(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        return tar.getnames()


def _highest_open_fd() -> int:
    return max(int(fd) for fd in os.listdir("/proc/self/fd"))


def _scarce_descriptors(spare: int) -> tuple[int, int]:
    """Limit this process's open files to `spare` above the highest one open now (a full test run holds
    more than a fixed small limit would allow); returns the limits to restore."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (_highest_open_fd() + 1 + spare, hard))
    return soft, hard


def test_packing_many_outputs_holds_one_file_open_at_a_time(tmp_path: Path) -> None:
    out = _outputs(tmp_path, 300)
    soft, hard = _scarce_descriptors(spare=16)  # the worker's open files, made scarce
    try:
        archive, skipped = pack_outputs(out, logs={}, result={}, max_bytes=1 << 20, log_tail=1024)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert skipped == []
    assert sum(1 for n in _names(archive) if n.startswith("out/")) == 300


def test_a_worker_out_of_descriptors_fails_instead_of_packing_no_outputs(tmp_path: Path) -> None:
    """Listing the outputs with no descriptor to spare used to give an archive without them (os.walk
    drops the errors it meets), which the worker would have signed as the job's result."""
    out = _outputs(tmp_path, 3)
    soft, hard = _scarce_descriptors(spare=8)
    held: list[int] = []
    try:
        while True:  # every free descriptor, the gaps below the highest included
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as exc:
                assert exc.errno == errno.EMFILE
                break
        with pytest.raises(OutputReadError, match="could not list") as caught:
            pack_outputs(out, logs={}, result={}, max_bytes=1 << 20, log_tail=1024)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "Too many open files" in str(caught.value)


def test_a_file_the_worker_cannot_open_for_its_own_reasons_fails_the_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMFILE on one output used to read as "not a regular file": the output went to `skipped`."""
    out = _outputs(tmp_path, 3)
    real_open = os.open

    def open_(path: object, flags: int, *args: object) -> int:
        if str(path).endswith("f0001"):
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)
    with pytest.raises(OutputReadError, match="f0001"):
        pack_outputs(out, logs={}, result={}, max_bytes=1 << 20, log_tail=1024)


def test_what_the_program_made_unreadable_is_skipped_not_a_worker_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mode of 0 on a file or folder under out/ is the program's doing: those names are reported as
    skipped. (The tests run as root, where a mode of 0 keeps nothing out, so the refusals are made.)"""
    out = _outputs(tmp_path, 2)
    (out / "locked").mkdir()
    (out / "locked" / "x").write_bytes(b"x")
    real_open, real_scandir = os.open, os.scandir

    def open_(path: object, flags: int, *args: object) -> int:
        if str(path).endswith("f0001"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    def scandir(path: object) -> object:
        if str(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "scandir", scandir)
    archive, skipped = pack_outputs(out, logs={}, result={}, max_bytes=1 << 20, log_tail=1024)
    assert sorted(skipped) == ["f0001", "locked"]
    assert [n for n in _names(archive) if n.startswith("out/")] == ["out/f0000"]


def test_outputs_past_the_file_limit_are_left_out_and_reported(tmp_path: Path) -> None:
    out = _outputs(tmp_path, 15)
    archive, _ = pack_outputs(out, logs={}, result={}, max_bytes=1 << 20, log_tail=1024, max_files=10)
    names = _names(archive)
    assert [n for n in names if n.startswith("out/")] == [f"out/f{i:04d}" for i in range(10)]
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        handle = tar.extractfile("result.json")
        assert handle is not None
        summary = json.loads(handle.read())
    assert summary["files_over_limit"] == 5 and summary["max_files"] == 10
