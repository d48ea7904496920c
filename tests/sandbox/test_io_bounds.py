"""Attacks on the data paths outside the sandbox (issue 13): the client's unpack, the worker's input
fetch and output packing. Plain pytest: no chain, no bubblewrap."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import resource
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpusettle.models import InputFile
from gpusettle.workloads.io import ArchiveError, InputError, fetch_inputs, pack_outputs, unpack


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


def test_packing_many_outputs_holds_one_file_open_at_a_time(tmp_path: Path) -> None:
    out = _outputs(tmp_path, 300)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))  # the worker's open files, made scarce
    try:
        archive, skipped = pack_outputs(out, logs={}, result={}, max_bytes=1 << 20, log_tail=1024)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert skipped == []
    assert sum(1 for n in _names(archive) if n.startswith("out/")) == 300


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
