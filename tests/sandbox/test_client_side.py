"""The client's side without a chain: its encryption key, the readable spec, sealed results that were
altered, the worker's resource gauges, and a worker that has no bwrap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from gpusettle.cli.jobspec import TEMPLATE, readable_spec
from gpusettle.errors import ConfigError, KeystoreError, WrongPasswordError
from gpusettle.keystore import Keystore
from gpusettle.models import CommandWorkload, JobSpec
from gpusettle.worker.progress import WorkloadMetrics
from gpusettle.workloads.io import Sealer, SealError, open_sealed, seal
from gpusettle.workloads.sandbox import SandboxUnavailable, bwrap_binary

from .helpers import run


@pytest.fixture
def keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keystore:
    monkeypatch.setenv("GPUSETTLE_KDF_FAST", "1")
    store = Keystore(tmp_path / "keystores")
    store.new("client", "pw")
    return store


def test_the_encryption_key_is_stored_encrypted_beside_the_account(keystore: Keystore) -> None:
    public = keystore.new_encryption_key("client", "pw")
    path = keystore.encryption_key_path("client")
    assert path.parent == keystore.path("client").parent and path.stat().st_mode & 0o777 == 0o600
    secret = keystore.unlock_encryption_key("client", "pw")
    assert secret.hex() not in path.read_text()  # only the encrypted form is on disk
    assert keystore.encryption_public_key("client") == public
    assert open_sealed(seal(b"weights", public), secret) == b"weights"
    assert keystore.aliases() == ["client"]  # never taken for an account
    with pytest.raises(WrongPasswordError):
        keystore.unlock_encryption_key("client", "wrong")
    with pytest.raises(KeystoreError, match="already has an encryption key"):
        keystore.new_encryption_key("client", "pw")
    with pytest.raises(KeystoreError, match="no encryption key"):
        keystore.encryption_public_key("nobody-here")


def test_a_sealed_result_that_was_cut_or_altered_is_refused() -> None:
    client = PrivateKey.generate()
    key = "0x" + bytes(client.public_key).hex()
    sealed = seal(b"x" * (3 << 20), key)  # several chunks
    assert open_sealed(sealed, bytes(client)) == b"x" * (3 << 20)
    flipped = bytearray(sealed)
    flipped[-10] ^= 1
    for bad in (sealed[: len(sealed) - (1 << 20) - 21], bytes(flipped), b"garbage"):
        with pytest.raises(SealError):
            open_sealed(bad, bytes(client))


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 2 << 20, (2 << 20) + 777])
def test_a_stream_written_in_odd_pieces_opens_to_the_same_bytes(size: int) -> None:
    """Chunk boundaries: however the plaintext arrives, every byte comes back once, in order, and the
    final tag sits on the last chunk (a result cut at a chunk boundary is refused)."""
    client = PrivateKey.generate()
    key = "0x" + bytes(client.public_key).hex()
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sealer = Sealer(key)
    at, step = 0, 1
    while at < size:
        piece = memoryview(data)[at : at + step]
        assert sealer.write(piece) == len(piece)
        at += len(piece)
        step = step * 3 + 1  # 1, 4, 13, ...: pieces straddle the 1 MiB chunks
    assert sealer.tell() == size
    sealed = sealer.finish()
    assert open_sealed(sealed, bytes(client)) == data
    assert len(sealed) == len(seal(data, key))  # the same chunking as one write
    if size > 1 << 20:
        last = size - ((size - 1) >> 20 << 20)  # the final chunk holds the rest, or a full chunk
        with pytest.raises(SealError):
            open_sealed(sealed[: len(sealed) - 4 - last - 17], bytes(client))  # cut at a boundary


def test_the_readable_spec_becomes_a_job_spec(tmp_path: Path) -> None:
    import yaml

    key = "0x" + bytes(PrivateKey.generate().public_key).hex()
    data = yaml.safe_load(TEMPLATE)
    data["inputs"] = [
        {"url": "http://127.0.0.1:1/v1/results/x", "sha256": "ab" * 32, "size": 3, "path": "d.bin"}
    ]
    spec = readable_spec(data, tmp_path, blob_store=None, wallet_key=lambda: key)
    assert isinstance(spec.workload, CommandWorkload)
    assert spec.workload.argv == ["python3", "/job/in/train.py"] and spec.workload.encrypt_to == key
    assert spec.workload.limits is not None and spec.workload.limits.memory_mb == 1024
    assert spec.workload.network is False
    assert JobSpec.model_validate_json(spec.canonical_json()) == spec
    with pytest.raises(ConfigError, match="unknown keys in the spec: colour"):
        readable_spec({**data, "colour": "red"}, tmp_path, blob_store=None, wallet_key=lambda: key)
    (tmp_path / "train.py").write_text("print(1)")
    with pytest.raises(ConfigError, match="--publish"):
        readable_spec(
            {"command": ["true"], "inputs": [{"file": "train.py"}]},
            tmp_path,
            blob_store=None,
            wallet_key=lambda: key,
        )


def test_progress_and_metrics_show_the_workloads_cpu_and_memory(tmp_path: Path) -> None:
    metrics = WorkloadMetrics()
    samples: list[tuple[float, int]] = []
    code = "import time\nx = bytearray(120 << 20)\nx[::4096] = b'y' * len(x[::4096])\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"
    from gpusettle.workloads.clientjob import JobPaths, prepare, run_sandboxed
    from gpusettle.workloads.sandbox import SandboxPolicy

    from .helpers import workload

    policy = SandboxPolicy(max_cpus=1, max_memory_mb=512, max_disk_mb=64)
    paths = JobPaths(tmp_path / "job")
    work = workload(code)
    limits = prepare(work, paths, policy, oracle_url="http://x", time_limit=30)
    assert not isinstance(limits, str)

    def seen(_elapsed: float, usage: object) -> None:
        from gpusettle.workloads.supervise import Usage

        assert isinstance(usage, Usage)
        samples.append((usage.cpu_seconds, usage.rss_bytes))
        metrics.observe(5, usage.cpu_seconds, usage.rss_bytes, usage.processes, usage.disk_bytes)

    result = run_sandboxed(work, paths, limits, policy, on_usage=seen, poll_interval=0.1)
    assert result.outcome == 0, result.failure_reason
    assert max(rss for _, rss in samples) > 100 << 20
    assert max(cpu for cpu, _ in samples) > 0.3
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    assert 'gpusettle_worker_job_memory_bytes{job="5"}' in text
    metrics.done(5)
    assert 'job="5"' not in generate_latest(metrics.registry).decode().split("gpusettle_worker_job_gpu")[0]


def test_without_bwrap_the_worker_refuses_to_run_client_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailable) as caught:
        bwrap_binary()
    assert "apt-get install bubblewrap" in (caught.value.hint or "")
    assert "--unsandboxed" in (caught.value.hint or "")


def test_the_result_summary_is_inside_the_sealed_result(tmp_path: Path) -> None:
    client = PrivateKey.generate()
    result, _ = run(
        tmp_path / "job",
        "import sys; print('boom', file=sys.stderr); sys.exit(4)",
        encrypt_to="0x" + bytes(client.public_key).hex(),
    )
    assert result.outcome == 1 and result.sealed
    assert "boom" not in (result.failure_reason or "")  # the public reason never quotes the program
    from gpusettle.workloads.io import unpack

    unpack(open_sealed(result.payload or b"", bytes(client)), tmp_path / "got")
    summary = json.loads((tmp_path / "got" / "result.json").read_text())
    assert summary["exit_code"] == 4 and "status 4" in summary["reason"]
    assert (tmp_path / "got" / "logs" / "stderr.log").read_text() == "boom\n"


def test_the_worker_serves_its_workload_gauges_on_metrics() -> None:
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = WorkloadMetrics()
    metrics.serve(port)
    metrics.observe(11, 1.5, 64 << 20, 3, 4096)
    metrics.observe_gpu(11, 0, 87.0, 2 << 30)
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'gpusettle_worker_job_cpu_seconds{job="11"} 1.5' in body
    assert 'gpusettle_worker_job_memory_bytes{job="11"} 6.7108864e+07' in body
    assert 'gpusettle_worker_job_gpu_utilization{gpu="0",job="11"} 87.0' in body


def test_local_inputs_are_uploaded_signed_and_a_refusal_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's upload, against the oracle's real app: signed with the account key, accepted, named
    by sha256 in the spec; over quota, the oracle's reason and a hint reach the user."""
    import hashlib

    import httpx
    from starlette.testclient import TestClient

    from gpusettle.cli import jobspec
    from gpusettle.eip712 import ReceiptVerifier
    from gpusettle.oracle.app import IntakeSettings, OracleApp
    from gpusettle.oracle.chainview import StaticChainView, WorkerKeyCache
    from gpusettle.oracle.inputs import InputQuota
    from gpusettle.oracle.store import SQLiteStore

    chain_id, escrow = 31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    verifier = ReceiptVerifier(chain_id, escrow)
    store = SQLiteStore(tmp_path / "oracle.sqlite")
    app = OracleApp(
        store=store,
        verifier=verifier,
        keys=WorkerKeyCache(StaticChainView(chain_id, escrow, {})),
        results_dir=tmp_path / "oracle" / "results",
        settings=IntakeSettings(input_quota=InputQuota(files=1)),
    )
    key = "0x" + bytes(PrivateKey.generate().public_key).hex()
    signer = jobspec.InputSigner(verifier.domain, bytes.fromhex("66" * 32))
    (tmp_path / "train.py").write_text("print('train')")
    (tmp_path / "data.csv").write_text("1,2,3\n")
    try:
        with TestClient(app.asgi(), base_url="http://oracle") as oracle:

            def put(url: str, **kwargs: object) -> httpx.Response:
                content = b"".join(kwargs.pop("content"))  # type: ignore[call-overload]
                kwargs.pop("timeout", None)
                return oracle.put(url, content=content, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr(jobspec.httpx, "put", put)
            spec = readable_spec(
                {"command": ["true"], "inputs": [{"file": "train.py", "path": "src/train.py"}]},
                tmp_path,
                blob_store="http://oracle",
                wallet_key=lambda: key,
                input_signer=lambda: signer,
            )
            assert isinstance(spec.workload, CommandWorkload) and spec.workload.inputs
            (item,) = spec.workload.inputs
            digest = hashlib.sha256(b"print('train')").hexdigest()
            assert item.url == f"http://oracle/v1/inputs/{digest}" and item.sha256 == digest
            assert item.path == "src/train.py" and item.size == len("print('train')")
            assert oracle.get(item.url).content == b"print('train')"
            with pytest.raises(ConfigError, match="HTTP 429: .*at most 1 are accepted") as refused:
                readable_spec(
                    {"command": ["true"], "inputs": [{"file": "data.csv"}]},
                    tmp_path,
                    blob_store="http://oracle",
                    wallet_key=lambda: key,
                    input_signer=lambda: signer,
                )
            assert refused.value.hint is not None and "quota" in refused.value.hint
            with pytest.raises(ConfigError, match="needs your account's key"):
                readable_spec(
                    {"command": ["true"], "inputs": [{"file": "data.csv"}]},
                    tmp_path,
                    blob_store="http://oracle",
                    wallet_key=lambda: key,
                )
    finally:
        app.close()
        store.close()
