"""The worker's parts that need no chain: metering, backoff, state, progress, NVML, spec stores, the
oracle client's classification of answers."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
import pytest

from gpusettle.models import CommandWorkload, JobSpec, MatmulWorkload
from gpusettle.worker.nvml import GpuMonitor, probe_gpus
from gpusettle.worker.progress import Progress
from gpusettle.worker.runner import meter
from gpusettle.worker.specstore import DirectorySpecStore, SpecUnavailable, open_spec_store
from gpusettle.worker.state import WorkerState
from gpusettle.worker.submit import OracleClient, backoff_delay


@pytest.mark.parametrize(
    ("t0", "t1", "gpus", "accepted", "cap", "expected"),
    [
        (100.2, 110.7, 1, 90, 10_000, (100, 111, 11)),  # ceil(10.5 x 1)
        (100.2, 110.7, 4, 90, 10_000, (100, 111, 42)),  # ceil(10.5 x 4)
        (100.0, 100.3, 2, 90, 10_000, (100, 101, 1)),  # at least one GPU-second
        (100.2, 110.7, 4, 90, 30, (100, 111, 30)),  # never above the job's maximum
        (
            100.2,
            110.7,
            1,
            105,
            10_000,
            (105, 111, 6),
        ),  # never before the acceptance; capped by (end-start) x GPUs
    ],
)
def test_metering(
    t0: float, t1: float, gpus: int, accepted: int, cap: int, expected: tuple[int, int, int]
) -> None:
    start, end, gpu_seconds = meter(t0, t1, gpus, accepted, cap)
    assert (start, end, gpu_seconds) == expected
    assert start >= accepted and end > start and gpu_seconds <= (end - start) * gpus


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    first = [backoff_delay(0) for _ in range(50)]
    assert all(0.25 <= d <= 0.5 for d in first)
    assert all(15 <= backoff_delay(30) <= 30 for _ in range(50))
    assert backoff_delay(4) > backoff_delay(0) / 2


def test_state_survives_reopening_and_transitions_once(tmp_path: Path) -> None:
    state = WorkerState(tmp_path / "w.sqlite")
    assert state.add_job(1, "0xspec", 600, 1, 100, 200)
    assert not state.add_job(1, "0xspec", 600, 1, 100, 200)
    assert state.transition(1, "new", "accepted", accepted_at=50)
    assert not state.transition(1, "new", "accepted")
    state.set_meta("last_block", "42")
    state.close()
    again = WorkerState(tmp_path / "w.sqlite")
    job = again.job(1)
    assert job is not None and job.state == "accepted" and job.accepted_at == 50
    assert again.get_meta("last_block") == "42"
    assert again.count("accepted") == 1 and [j.job_id for j in again.jobs("accepted", "new")] == [1]
    with pytest.raises(KeyError):
        again.update(1, no_such_column=1)


def test_progress_bar_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = Progress("job 1", stream=out, width=10)
    bar.update(0.5, "half")
    bar.close()
    assert "[#####.....]" in out.getvalue() and " 50.0%" in out.getvalue()


def test_progress_log_lines_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    bar = Progress("job 2", stream=out)
    with caplog.at_level(logging.INFO, logger="gpusettle.worker"):
        for i in range(1, 101):
            bar.update(i / 100, f"step {i}")
        bar.close()
    assert out.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records]
    assert 10 <= len(lines) <= 12 and "job 2: 100%" in lines[-2]


def test_no_nvml_means_no_evidence_and_a_reason() -> None:
    gpus, reason = probe_gpus()
    monitor = GpuMonitor(count=1).start()
    evidence = monitor.stop()
    if gpus:
        assert evidence["gpu_names"] and len(evidence["gpu_uuids"]) == len(evidence["gpu_names"])
    else:
        assert reason and monitor.reason == reason
        assert evidence == {"gpu_names": [], "gpu_uuids": []}


def test_directory_spec_store(tmp_path: Path) -> None:
    store = DirectorySpecStore(tmp_path)
    spec = JobSpec(workload=MatmulWorkload(kind="matmul", seed=1, n=8, repetitions=1))
    name = store.publish(spec)
    assert store.fetch(name) == spec
    with pytest.raises(SpecUnavailable):
        store.fetch("0x" + "00" * 32)
    other = JobSpec(workload=CommandWorkload(kind="command", argv=["true"]))
    (tmp_path / f"{name}.json").write_bytes(other.canonical_json())  # tampered
    with pytest.raises(ValueError, match="hashing to"):
        store.fetch(name)
    assert isinstance(open_spec_store(str(tmp_path)), DirectorySpecStore)


def test_oracle_answers_are_classified() -> None:
    answers = {
        "/v1/receipts": [
            httpx.Response(202, json={"status": "received"}),
            httpx.Response(200, json={"status": "verified", "duplicate": True}),
            httpx.Response(409, json={"error": "already_settled", "reason": "settled"}),
            httpx.Response(422, json={"error": "bad_signature", "reason": "wrong key"}),
            httpx.Response(503, json={"error": "store_unavailable", "reason": "disk full"}),
            httpx.Response(429, json={}),
        ]
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return answers[request.url.path].pop(0)

    client = OracleClient("http://oracle", transport=httpx.MockTransport(handler))
    kinds = [client.submit(json.dumps({})).kind for _ in range(6)]
    assert kinds == ["ack", "ack", "settled", "rejected", "retry", "retry"]


def test_unreachable_oracle_is_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = OracleClient("http://oracle", transport=httpx.MockTransport(handler))
    assert client.submit("{}").kind == "retry"
    assert client.upload_result("0x" + "00" * 32, b"x", {}).kind == "retry"
    assert client.status(1).kind == "unreachable"


# -- a receipt the oracle lost is submitted again (issue 9, defect 6) -----------------------------------


def _worker_with_oracle(tmp_path: Path, handler: object, **config: object) -> object:
    """A Worker whose chain is a stand-in (only the EIP-712 domain is read) and whose oracle is `handler`."""
    from types import SimpleNamespace

    from eth_account import Account

    from gpusettle.worker.runner import Worker, WorkerConfig

    fake = SimpleNamespace(
        chain=SimpleNamespace(chain_id=31337),
        escrow=SimpleNamespace(address="0x" + "11" * 20),
    )
    worker = Worker(
        WorkerConfig(
            data_dir=tmp_path,
            provider="0x" + "22" * 20,
            oracle_url="http://oracle",
            status_every=0.0,
            confirmations=1,
            **config,  # type: ignore[arg-type]
        ),
        lambda: fake,  # type: ignore[arg-type, return-value]
        Account.create(),
    )
    worker._oracle_client = OracleClient("http://oracle", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    return worker


def _submitted_job(worker: object, job_id: int, deadline: int) -> None:
    state: WorkerState = worker.state  # type: ignore[attr-defined]
    state.add_job(job_id, "0x" + "33" * 32, 600, 1, deadline - 100, deadline)
    state.update(job_id, state="submitted", submission=json.dumps({"receipt": {"jobId": job_id}}), end_time=1)


def test_a_receipt_the_oracle_lost_is_submitted_again(tmp_path: Path) -> None:
    import time

    posts: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"error": "unknown_receipt", "reason": "no receipt for job 7"})
        posts.append(request.content)
        return httpx.Response(202, json={"status": "received", "job_id": 7})

    worker = _worker_with_oracle(tmp_path, handler)
    _submitted_job(worker, 7, int(time.time()) + 86_400)
    worker.submit_once()  # type: ignore[attr-defined]  # the oracle says 404: the receipt goes back to be sent
    worker.submit_once()  # type: ignore[attr-defined]
    assert posts, "the lost receipt was never submitted again"
    assert json.loads(posts[0])["receipt"]["jobId"] == 7
    assert worker.state.job(7).state == "submitted"  # type: ignore[attr-defined]


def test_an_unreachable_oracle_is_not_a_lost_receipt(tmp_path: Path) -> None:
    import time

    posts: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            raise httpx.ConnectError("refused")
        posts.append(request.content)
        return httpx.Response(202, json={"status": "received"})

    worker = _worker_with_oracle(tmp_path, handler)
    _submitted_job(worker, 8, int(time.time()) + 86_400)
    worker.submit_once()  # type: ignore[attr-defined]
    worker.submit_once()  # type: ignore[attr-defined]
    assert posts == []
    assert worker.state.job(8).state == "submitted"  # type: ignore[attr-defined]


def test_a_receipt_near_its_deadline_is_reported_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"job_id": 9, "status": "verified"})

    worker = _worker_with_oracle(tmp_path, handler)
    _submitted_job(worker, 9, int(time.time()) + 120)
    with caplog.at_level(logging.WARNING, logger="gpusettle.worker"):
        worker.submit_once()  # type: ignore[attr-defined]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("job 9" in w and "at risk" in w and "s left" in w for w in warnings), warnings
