"""Attacks on the data paths outside the sandbox (issue 13): the client's unpack, the worker's input
fetch and output packing. Plain pytest: no chain, no bubblewrap."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from gpusettle.workloads.io import ArchiveError, unpack


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
