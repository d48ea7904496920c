"""Inputs by hash, sealed outputs, and the client's key: through the real sandbox."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from pydantic import ValidationError

from gpusettle.models import InputFile, Outcome
from gpusettle.workloads.clientjob import JobPaths, prepare
from gpusettle.workloads.io import SealError, open_sealed, unpack
from gpusettle.workloads.sandbox import SandboxPolicy

from .helpers import run, workload

BLOB = os.urandom(300_000)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = BLOB if self.path.endswith("/blob") else b"not found"
        start = 0
        ranged = self.headers.get("Range")
        if ranged and self.path.endswith("/blob"):
            start = int(ranged.split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200 if self.path.endswith("/blob") else 404)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])
        self.server.requests.append((self.path, ranged))  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture(scope="module")
def blob_server() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.requests  # type: ignore[attr-defined]
    server.shutdown()


def _policy(url: str, **extra: object) -> SandboxPolicy:
    return SandboxPolicy(max_cpus=1, max_memory_mb=512, max_disk_mb=64, input_url_prefixes=(url,), **extra)  # type: ignore[arg-type]


def test_inputs_by_hash_are_read_only_in_the_sandbox(tmp_path: Path, blob_server: tuple[str, list]) -> None:
    url, requests = blob_server
    item = InputFile(
        url=f"{url}/d/blob", sha256=hashlib.sha256(BLOB).hexdigest(), path="data/blob.bin", size=len(BLOB)
    )
    code = (
        "import hashlib; data = open('/job/in/data/blob.bin', 'rb').read(); "
        "report(sha=hashlib.sha256(data).hexdigest(), write=attempt(lambda: open('/job/in/data/blob.bin', 'wb')))"
    )
    paths = JobPaths(tmp_path / "job")
    # A download cut short is resumed with a Range request, not started over.
    paths.inputs.joinpath("data").mkdir(parents=True)
    paths.inputs.joinpath("data", "blob.bin.part").write_bytes(BLOB[:100_000])
    result, _ = run(tmp_path / "job", code, policy=_policy(url), inputs=[item])
    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    seen = __import__("json").loads((paths.out / "report.json").read_text())
    assert seen["sha"] == item.sha256 and seen["write"].startswith("refused")
    assert requests[-1] == ("/d/blob", "bytes=100000-")


def test_a_wrong_input_hash_fails_before_the_program_starts(
    tmp_path: Path, blob_server: tuple[str, list]
) -> None:
    url, _ = blob_server
    wrong = InputFile(url=f"{url}/d/blob", sha256="00" * 32, path="blob.bin", size=len(BLOB))
    work = workload("open('/job/started', 'w')", inputs=[wrong])
    paths = JobPaths(tmp_path / "job")
    reason = prepare(work, paths, _policy(url), oracle_url="http://127.0.0.1:9", time_limit=30)
    assert isinstance(reason, str) and "sha256" in reason and wrong.sha256 in reason
    assert not (paths.work / "started").exists() and not (paths.inputs / "blob.bin").exists()
    short = InputFile(url=f"{url}/d/blob", sha256=hashlib.sha256(BLOB).hexdigest(), path="b2", size=1000)
    reason = prepare(
        workload("pass", inputs=[short]), paths, _policy(url), oracle_url="http://x", time_limit=30
    )
    assert isinstance(reason, str) and "more than its declared 1000 bytes" in reason
    elsewhere = InputFile(url="http://203.0.113.9/blob", sha256="11" * 32, path="b3", size=1)
    reason = prepare(
        workload("pass", inputs=[elsewhere]), paths, _policy(url), oracle_url="http://x", time_limit=30
    )
    assert isinstance(reason, str) and "not an allowed source" in reason


def test_outputs_come_back_sealed_and_only_the_client_can_open_them(tmp_path: Path) -> None:
    client = PrivateKey.generate()
    secret = tmp_path / "host-secret"
    secret.write_text("SECRET")
    code = (
        "import os, sys; os.makedirs('/job/out/model', exist_ok=True); "
        "open('/job/out/model/weights.bin', 'wb').write(b'w' * 1000); "
        f"os.symlink({str(secret)!r}, '/job/out/leak'); print('trained'); print('warn', file=sys.stderr)"
    )
    result, _ = run(tmp_path / "job", code, encrypt_to="0x" + bytes(client.public_key).hex())
    assert result.outcome == Outcome.COMPLETED and result.sealed and result.payload is not None
    from gpusettle.hashing import keccak256

    assert result.result_hash == "0x" + keccak256(result.payload).hex()
    assert b"w" * 1000 not in result.payload
    with pytest.raises(SealError):
        open_sealed(result.payload, bytes(PrivateKey.generate()))
    names = unpack(open_sealed(result.payload, bytes(client)), tmp_path / "got")
    assert "out/model/weights.bin" in names and "out/leak" not in names  # a link to the host is not followed
    assert (tmp_path / "got" / "out/model/weights.bin").read_bytes() == b"w" * 1000
    assert (tmp_path / "got" / "logs/stdout.log").read_text() == "trained\n"
    assert (tmp_path / "got" / "logs/stderr.log").read_text() == "warn\n"


def test_an_output_over_the_limit_fails_the_job_but_the_logs_come_back(tmp_path: Path) -> None:
    client = PrivateKey.generate()
    code = "open('/job/out/huge', 'wb').write(b'x' * (3 << 20)); print('wrote it')"
    policy = SandboxPolicy(max_cpus=1, max_memory_mb=512, max_disk_mb=64, max_output_mb=1)
    result, _ = run(tmp_path / "job", code, policy=policy, encrypt_to="0x" + bytes(client.public_key).hex())
    assert result.outcome == Outcome.FAILED_CLIENT and "limit" in (result.failure_reason or "")
    assert result.payload is not None and result.sealed
    names = unpack(open_sealed(result.payload, bytes(client)), tmp_path / "got")
    assert "out/huge" not in names and (tmp_path / "got" / "logs/stdout.log").read_text() == "wrote it\n"


def test_a_client_key_that_is_not_a_public_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="X25519"):
        workload("pass", encrypt_to="0x1234")
    low_order = workload("pass", encrypt_to="0x" + "00" * 32)  # the right shape, but libsodium refuses it
    paths = JobPaths(tmp_path / "job")
    reason = prepare(low_order, paths, SandboxPolicy(), oracle_url="http://x", time_limit=30)
    assert isinstance(reason, str) and "not a valid X25519 public key" in reason
    assert not paths.work.exists()  # nothing ran
