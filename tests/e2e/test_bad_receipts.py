"""Bad receipts against a real oracle process and chain: each gets its clear rejection, none is posted.

Synchronous refusals (4xx at intake) for what needs no job state; a `rejected` status with the reason
for what the background verifier decides from fresh chain state; a wrong matmul result is reported
for slashing (reportFraud by the arbiter key) and never paid.

Every test takes its own jobs from the module's pool and checks what it posted itself, and the key
rotation test leaves a fresh current key in `world.worker` (a replaced key can never come back), so the
tests pass in any order and alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account

from gpusettle.devnet import FastSender
from gpusettle.hashing import keccak256
from gpusettle.models import JobSpec, MatmulWorkload
from gpusettle.signed_requests import result_upload_headers
from gpusettle.workloads import encode_result, generate_inputs, run_matmul
from tests.e2e.conftest import World, make_world, receipt_status, wait_until

MATMUL = JobSpec(workload=MatmulWorkload(kind="matmul", seed=7, n=128, repetitions=1))


PLAIN_JOBS, MATMUL_JOBS = 10, 2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shared world with an offer big enough for all the module's jobs at once (no worker runs here,
    so the offer need not fit the worker's simulated slots)."""
    anvil, w = make_world(tmp_path_factory.mktemp("bad-receipts"), offer_gpus=24)
    assert (PLAIN_JOBS + MATMUL_JOBS) * w.gpu_count <= w.offer_gpus
    try:
        yield w
    finally:
        for proc in w.processes:
            proc.stop()
        anvil.stop()


@pytest.fixture(scope="module")
def setup(world: World) -> Iterator[dict[str, Any]]:
    oracle, url = world.start_oracle()
    plain = world.jobs(PLAIN_JOBS)
    matmul_ids = world.open(MATMUL_JOBS, spec_hash=bytes.fromhex(MATMUL.spec_hash()[2:]))
    matmul = world.net.accept_jobs(world.worker, matmul_ids)
    assert (
        httpx.put(f"{url}/v1/specs/{MATMUL.spec_hash()}", content=MATMUL.canonical_json()).status_code == 201
    )
    # Receipts below end 2 s after acceptance: wait until that is in the past for the oracle's clock.
    last_end = max([*plain.values(), *matmul.values()]) + 2
    wait_until(lambda: time.time() > last_end + 1, 30, "the receipts' end times to pass")
    yield {
        "url": url,
        "oracle": oracle,
        "plain": sorted(plain.items()),
        "matmul": sorted(matmul.items()),
        "used": set(),
    }
    oracle.stop()


def post(url: str, doc: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/receipts", json=doc, timeout=10)


def take(setup: dict[str, Any], kind: str = "plain") -> tuple[int, int]:
    for job_id, accepted_at in setup[kind]:
        if job_id not in setup["used"]:
            setup["used"].add(job_id)
            setup["mine"].add(job_id)
            return job_id, accepted_at
    raise AssertionError("out of jobs")


@pytest.fixture(autouse=True)
def nothing_bad_was_posted(world: World, setup: dict[str, Any]) -> Iterator[None]:
    """After each test: of the jobs it took, exactly those the oracle reports settled were settled
    on-chain (once each); every other one is still Running or was marked Fraud."""
    setup["mine"] = set()
    yield
    gs = world.net.gs
    for job_id in setup["mine"]:
        settled_here = receipt_status(setup["url"], job_id).get("status") == "settled"
        events = gs.events("escrow", "JobSettled", jobId=job_id)
        assert len(events) == (1 if settled_here else 0), (job_id, events)
        if not settled_here:
            assert gs.job(job_id).status in ("Running", "Fraud")


def upload(world: World, url: str, job_id: int, payload: bytes) -> httpx.Response:
    """PUT a result payload signed by the worker key for `job_id`."""
    name = "0x" + keccak256(payload).hex()
    headers = result_upload_headers(world.verifier().domain, bytes(world.worker.key), job_id, name)
    return httpx.put(f"{url}/v1/results/{name}", content=payload, headers=headers, timeout=30)


def test_intake_refusals(world: World, setup: dict[str, Any]) -> None:
    url = setup["url"]
    job_id, accepted = take(setup)
    r = world.receipt(job_id, accepted)
    cases = [
        ("wrong signature", world.sign(r, key=bytes(Account.create().key)), 422, "bad_signature"),
        ("another chain id", world.sign(r, chain_id=1), 422, "bad_signature"),
        ("another chain id, declared", world.sign(r, chain_id=1, chainId=1), 422, "wrong_chain"),
        ("another escrow", world.sign(r, escrow="0x" + "42" * 20), 422, "bad_signature"),
        ("end in the future", world.sign(world.receipt(job_id, int(time.time()) + 60)), 422, "end_in_future"),
    ]
    for what, doc, code, error in cases:
        response = post(url, doc)
        assert (response.status_code, response.json()["error"]) == (code, error), what
        assert response.json()["reason"], what
    malformed = httpx.post(
        f"{url}/v1/receipts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["error"] == "malformed_json"
    oversized = httpx.post(
        f"{url}/v1/receipts",
        content=b"[" + b"1," * 40_000 + b"1]",
        headers={"content-type": "application/json"},
    )
    assert oversized.status_code == 413 and "at most" in oversized.json()["reason"]
    assert httpx.get(f"{url}/v1/receipts/{job_id}").status_code == 404  # none of them was stored


def test_impossible_numbers_are_rejected_by_the_verifier(world: World, setup: dict[str, Any]) -> None:
    url = setup["url"]
    too_many, accepted_a = take(setup)
    over_max, accepted_b = take(setup)
    before_accept, accepted_c = take(setup)
    limit = (2 + 5) * world.gpu_count
    docs = {
        too_many: world.sign(world.receipt(too_many, accepted_a, gpu_seconds=limit + 1)),
        over_max: world.sign(world.receipt(over_max, accepted_b - 3600, wall=3600 + 3, gpu_seconds=3601)),
        before_accept: world.sign(world.receipt(before_accept, accepted_c - 5, wall=3)),
    }
    for doc in docs.values():
        assert post(url, doc).status_code == 202
    wait_until(
        lambda: all(receipt_status(url, j)["status"] == "rejected" for j in docs), 20, "rejections", world
    )
    assert "impossible" in receipt_status(url, too_many)["reason"]
    assert "exceed the job's maximum" in receipt_status(url, over_max)["reason"]
    assert "before the job was accepted" in receipt_status(url, before_accept)["reason"]


def test_replay_of_a_settled_job(world: World, setup: dict[str, Any]) -> None:
    url = setup["url"]
    job_id, accepted = take(setup)
    doc = world.sign(world.receipt(job_id, accepted))
    assert post(url, doc).status_code == 202
    wait_until(lambda: receipt_status(url, job_id)["status"] == "settled", 30, "settlement", world)
    replay = post(url, doc)
    assert replay.status_code == 409 and replay.json()["error"] == "already_settled"
    more = post(url, world.sign(world.receipt(job_id, accepted, gpu_seconds=3)))
    assert more.status_code == 409 and more.json()["error"] == "already_settled"
    assert len(world.net.gs.events("escrow", "JobSettled", jobId=job_id)) == 1


def test_wrong_matmul_result_is_reported_not_paid(world: World, setup: dict[str, Any]) -> None:
    url = setup["url"]
    gs = world.net.gs
    honest_id, honest_accepted = take(setup, "matmul")
    fraud_id, fraud_accepted = take(setup, "matmul")
    right = run_matmul(MATMUL.workload, device="cpu").payload  # type: ignore[arg-type]
    assert right is not None
    a, b = generate_inputs(8, 128)
    wrong = encode_result(a @ b)  # the product of other matrices
    assert upload(world, url, honest_id, right).status_code == 201
    assert upload(world, url, fraud_id, wrong).status_code == 201
    honest = world.sign(world.receipt(honest_id, honest_accepted, result_hash="0x" + keccak256(right).hex()))
    fraud = world.sign(world.receipt(fraud_id, fraud_accepted, result_hash="0x" + keccak256(wrong).hex()))
    assert post(url, honest).status_code == 202
    assert post(url, fraud).status_code == 202
    wait_until(
        lambda: receipt_status(url, honest_id)["status"] == "settled",
        30,
        "the honest matmul to settle",
        world,
    )
    wait_until(
        lambda: "reported in tx" in receipt_status(url, fraud_id).get("fraud_report", ""),
        30,
        "the fraud report",
        world,
    )
    verdict = receipt_status(url, fraud_id)
    assert verdict["status"] == "rejected" and "wrong matmul result" in verdict["reason"]
    assert gs.job(fraud_id).status == "Fraud"
    assert gs.events("escrow", "FraudReported", jobId=fraud_id)
    assert not gs.events("escrow", "JobSettled", jobId=fraud_id)
    assert gs.stake_info(world.provider.address).jailed


def test_rotated_out_key(world: World, setup: dict[str, Any]) -> None:
    url = setup["url"]
    job_id, accepted = take(setup)
    old_key_doc = world.sign(world.receipt(job_id, accepted))
    new_worker = Account.create()
    sender = FastSender(world.net.gs, world.provider)
    sender.call(world.net.gs.staking, "setWorker", new_worker.address)
    sender.wait()
    try:
        # A receipt signed by the new key (for a job that cannot exist, so nothing can settle) makes the
        # oracle read the provider's key again: from then on it knows the rotation.
        probe = world.sign(world.receipt(2**62, accepted), key=bytes(new_worker.key))
        wait_until(lambda: post(url, probe).status_code == 202, 10, "the oracle to learn the new key", world)
        response = post(url, old_key_doc)
        assert response.status_code == 422 and response.json()["error"] == "bad_signature"
        assert "current worker key" in response.json()["reason"]
    finally:
        # A replaced key is retired for good (ProviderStaking refuses to name it again), so the module
        # goes on with a third key: later tests sign with world.worker, whatever key that is now.
        successor = Account.create()
        sender.call(world.net.gs.staking, "setWorker", successor.address)
        sender.wait()
        world.worker = successor
        back = world.sign(world.receipt(2**62 + 1, accepted))
        wait_until(lambda: post(url, back).is_success, 10, "the oracle to learn the new key", world)
