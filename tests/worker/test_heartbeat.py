"""Lease heartbeats (signed typed data, exactly once per bucket, retried until acknowledged) and the
probe endpoint (a seeded matmul on the lease's GPUs the oracle can check)."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from gpusettle.eip712 import to_compact
from gpusettle.hashing import keccak256
from gpusettle.leases.eip712 import heartbeat_digest, lease_domain, recover_heartbeat
from gpusettle.leases.models import Heartbeat, HeartbeatEvidence, evidence_hash
from gpusettle.models import JobSpec
from gpusettle.worker.heartbeat import HeartbeatSender, LeaseLiveness
from gpusettle.worker.leases import LeaseSupervisor
from gpusettle.worker.probe import ProbeError, ProbeServer, answer_probe
from gpusettle.worker.slots import SlotScheduler
from gpusettle.worker.state import WorkerState
from gpusettle.workloads.freivalds import default_tolerance, freivalds
from gpusettle.workloads.matmul import cuda_available, decode_result, generate_inputs

from .fakechain import FakeLeaseChain

DOMAIN = lease_domain(31337, "0x" + "ab" * 20)
PROVIDER = "0x" + "22" * 20


def test_the_sender_signs_the_shared_heartbeat_type_the_oracle_recovers(tmp_path: Path) -> None:
    """The worker signs with gpusettle.leases (the oracle's code); the digest itself is checked against
    eth-account in tests/python/test_lease_eip712.py."""
    account = Account.create()
    state = WorkerState(tmp_path / "w.sqlite")
    _lease_row(state, 5)
    oracle = Oracle()
    live = [LeaseLiveness(5, [0], 123, True)]
    _sender(state, live, oracle, bytes(account.key)).tick(1_700_000_030)
    sent = oracle.got[0]
    assert HeartbeatEvidence.model_validate(sent["evidence"]).canonical_json() == (
        b'{"alive":true,"gpus":[],"pid":123}'
    )
    beat = Heartbeat.model_validate({k: sent[k] for k in Heartbeat.model_fields})
    assert beat.evidenceHash == evidence_hash(sent["evidence"])  # type: ignore[arg-type]
    assert recover_heartbeat(beat, str(sent["signature"]), DOMAIN) == account.address
    assert (
        recover_heartbeat(beat, str(sent["signature"]), lease_domain(1, "0x" + "ab" * 20)) != account.address
    )


class Oracle:
    """A mock oracle: answers from a script of status codes, records what it got."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.codes = list(codes or [])
        self.got: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        code = self.codes.pop(0) if self.codes else 202
        if code == 0:
            raise httpx.ConnectError("refused")
        if code < 300:
            self.got.append({"url": str(request.url), **json.loads(request.content)})
        return httpx.Response(
            code, json={"error": "bad", "hint": "h"} if code >= 400 else {"status": "stored"}
        )


def _sender(state: WorkerState, live: list[LeaseLiveness], oracle: Oracle, key: bytes) -> HeartbeatSender:
    return HeartbeatSender(
        state=state,
        private_key=key,
        provider=PROVIDER,
        domain=DOMAIN,
        oracles=["http://o1", "http://o2"],
        live=lambda: live,
        interval=30,
        transport=httpx.MockTransport(oracle),
    )


def _lease_row(state: WorkerState, lease_id: int) -> None:
    state.execute(
        "INSERT INTO leases (lease_id, state, offer_id, gpu_count, spec_hash, created_at, updated_at) "
        "VALUES (?, 'running', 1, 1, '0x', 0, 0)",
        (lease_id,),
    )


def test_one_heartbeat_per_bucket_signed_by_the_worker_and_never_twice_after_a_restart(
    tmp_path: Path,
) -> None:
    account = Account.create()
    state = WorkerState(tmp_path / "w.sqlite")
    _lease_row(state, 3)
    live = [LeaseLiveness(3, [1], 4242, True)]
    oracle = Oracle()
    sender = _sender(state, live, oracle, bytes(account.key))
    t = 1_700_000_010  # bucket 56666667 runs 1_700_000_010 .. _039
    sender.tick(t)
    sender.tick(t + 15)  # same bucket: nothing new
    assert len(oracle.got) == 2 and {g["url"] for g in oracle.got} == {
        "http://o1/v1/heartbeats",
        "http://o2/v1/heartbeats",
    }
    beat = oracle.got[0]
    assert beat["sequence"] == t // 30 and beat["timestamp"] == t and beat["serviceUp"] is True
    assert beat["evidence"] == {"gpus": [], "pid": 4242, "alive": True}
    assert beat["evidenceHash"] == evidence_hash(beat["evidence"])  # type: ignore[arg-type]
    signed = Heartbeat.model_validate({k: beat[k] for k in Heartbeat.model_fields if k != "url"})
    digest = heartbeat_digest(signed, DOMAIN)
    signature = bytes.fromhex(str(beat["signature"])[2:])
    assert len(signature) == 65
    assert Account._recover_hash(digest, signature=signature) == account.address
    to_compact(signature)  # low s, v 27/28: the compact form the contracts take exists

    restarted = _sender(WorkerState(tmp_path / "w.sqlite"), live, oracle, bytes(account.key))
    restarted.tick(t + 20)
    assert len(oracle.got) == 2  # a restart in the same bucket signs and sends nothing new
    live[0] = LeaseLiveness(3, [1], None, False)
    restarted.tick(t + 31)  # the next bucket: the service is down
    assert [g["sequence"] for g in oracle.got] == [t // 30] * 2 + [t // 30 + 1] * 2
    assert oracle.got[-1]["serviceUp"] is False


def test_heartbeats_are_retried_with_backoff_until_acknowledged_and_a_refusal_is_final(
    tmp_path: Path,
) -> None:
    state = WorkerState(tmp_path / "w.sqlite")
    _lease_row(state, 1)
    oracle = Oracle([0, 503, 0, 400])  # o1 unreachable, o2 busy; then o1 unreachable again, o2 refuses
    sender = _sender(state, [LeaseLiveness(1, [0], 1, True)], oracle, bytes(Account.create().key))
    t = 1_700_000_000
    sender.tick(t)
    assert oracle.got == []
    sender.send_due(t)  # not due yet: the backoff holds it back
    assert oracle.codes == [0, 400]
    sender.send_due(t + 60)
    assert oracle.got == [] and oracle.codes == []
    sender.send_due(t + 120)
    assert (
        len(oracle.got) == 1 and oracle.got[0]["url"] == "http://o1/v1/heartbeats"
    )  # o2 refused: not resent
    rows = state.execute("SELECT oracle, done, attempts FROM heartbeat_outbox ORDER BY oracle")
    assert rows == [("http://o1", 1, 2), ("http://o2", 2, 1)]


def test_the_supervisor_reports_a_dead_service_as_down(tmp_path: Path) -> None:
    chain = FakeLeaseChain()
    state = WorkerState(tmp_path / "w.sqlite")
    spec = JobSpec.model_validate({"workload": {"kind": "command", "argv": ["sleep", "600"]}})
    sup = LeaseSupervisor(
        state=state,
        slots=SlotScheduler(state, (0, 1)),
        chain=chain,
        fetch_spec=lambda h: spec,
        data_dir=tmp_path,
        allow_command=True,
        backoff_base=30.0,  # a long pause, so the service is seen down
    )
    chain.open(2, 1, spec.spec_hash())
    try:
        sup.tick()
        assert sup.liveness() == []  # accepted, not yet seen Running on-chain: no heartbeat yet
        sup.tick()
        deadline = time.monotonic() + 10
        while not sup.liveness()[0].alive and time.monotonic() < deadline:
            time.sleep(0.05)
        up = sup.liveness()[0]
        assert up.alive and up.slots == [0] and up.pid is not None
        os.killpg(up.pid, 9)
        while sup.liveness()[0].alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sup.liveness()[0] == LeaseLiveness(2, [0], None, False)
    finally:
        sup.stop_all()


# -- the probe --------------------------------------------------------------------------------------


def _check(doc: dict[str, object], seed: int, n: int) -> None:
    payload = base64.b64decode(str(doc["result"]))
    assert set(doc) == {"leaseId", "seed", "n", "checksum", "result"}  # the oracle's ProbeAnswer, no more
    assert doc["checksum"] == "0x" + keccak256(payload).hex()
    a, b = generate_inputs(seed, n)
    assert freivalds(
        a, b, decode_result(payload, n, "float32"), rounds=4, tolerance=default_tolerance("float32")
    ).passed


def test_a_probe_answers_a_product_the_oracle_can_check_and_refuses_bad_ones() -> None:
    doc = answer_probe({"leaseId": 4, "seed": 99, "n": 32}, lambda lid: [2] if lid == 4 else None, False)
    _check(doc, 99, 32)
    server = ProbeServer(lambda lid: [2] if lid == 4 else None, False).start()
    try:
        url = f"http://127.0.0.1:{server.port}/v1/probe"
        ok = httpx.post(url, json={"leaseId": 4, "seed": 7, "n": 16}, timeout=30)
        assert ok.status_code == 200
        _check(ok.json(), 7, 16)
        unknown = httpx.post(url, json={"leaseId": 5, "seed": 7, "n": 16}, timeout=30)
        assert unknown.status_code == 404 and "not running" in unknown.json()["error"]
        big = httpx.post(url, json={"leaseId": 4, "seed": 7, "n": 100_000}, timeout=30)
        assert big.status_code == 400 and "n must be" in big.json()["error"] and big.json()["hint"]
        junk = httpx.post(url, content=b"{", timeout=30)
        assert junk.status_code == 400 and "not JSON" in junk.json()["error"]
    finally:
        server.stop()


def test_only_the_oracle_set_may_probe() -> None:
    from gpusettle.eip712 import Domain
    from gpusettle.signed_requests import peer_request_headers
    from gpusettle.worker.probe import peer_auth

    domain = Domain(31337, "0x" + "11" * 20)
    oracle, stranger = Account.create(), Account.create()
    server = ProbeServer(lambda lid: [0], False, auth=peer_auth(domain, lambda: {oracle.address})).start()
    url = f"http://127.0.0.1:{server.port}/v1/probe"
    body = json.dumps({"leaseId": 1, "seed": 2, "n": 4}).encode()

    def signed(who: Any, stamp: int, path: str = "/v1/probe") -> dict[str, str]:
        return peer_request_headers(domain, bytes(who.key), who.address, "POST", path, stamp, body)

    now = int(time.time())
    try:
        assert httpx.post(url, content=body, timeout=30).status_code == 401
        assert httpx.post(url, content=body, headers=signed(stranger, now), timeout=30).status_code == 403
        stale = httpx.post(url, content=body, headers=signed(oracle, now - 3600), timeout=30)
        assert stale.status_code == 401 and "signed at" in stale.json()["error"]
        other_path = httpx.post(url, content=body, headers=signed(oracle, now, "/v1/other"), timeout=30)
        assert other_path.status_code == 401
        ok = httpx.post(url, content=body, headers=signed(oracle, now), timeout=30)
        assert ok.status_code == 200
        _check(ok.json(), 2, 4)
    finally:
        server.stop()


@pytest.fixture
def cuda() -> Iterator[None]:
    if not cuda_available():
        pytest.skip("no CUDA device here (torch with a GPU is needed for the CUDA probe path)")
    yield


def test_a_probe_runs_on_the_leases_gpu(cuda: None) -> None:
    doc = answer_probe({"leaseId": 1, "seed": 3, "n": 64}, lambda lid: [0], True)
    _check(doc, 3, 64)
    # The CUDA path, not the CPU: a slot with no such GPU fails instead of falling back.
    with pytest.raises(ProbeError, match="cuda:99"):
        answer_probe({"leaseId": 1, "seed": 3, "n": 64}, lambda lid: [99], True)


class BatchOracle:
    """A mock oracle that takes /v1/heartbeats/batch (answering each item from `item_codes`), or, with
    `batches=False`, only single heartbeats (404 on the batch path, as an older oracle)."""

    def __init__(self, item_codes: list[int] | None = None, batches: bool = True) -> None:
        self.item_codes = list(item_codes or [])
        self.batches = batches
        self.requests: list[tuple[str, int]] = []  # (path, heartbeats in the request)
        self.took: list[tuple[int, int]] = []  # (lease, sequence) acknowledged

    def __call__(self, request: httpx.Request) -> httpx.Response:
        doc = json.loads(request.content)
        if request.url.path.endswith("/batch"):
            if not self.batches:
                self.requests.append((request.url.path, 0))
                return httpx.Response(404, json={"error": "not_found"})
            beats = doc["heartbeats"]
            self.requests.append((request.url.path, len(beats)))
            results = []
            for beat in beats:
                code = self.item_codes.pop(0) if self.item_codes else 202
                if code < 300:
                    self.took.append((beat["leaseId"], beat["sequence"]))
                results.append({"code": code, **({"error": "bad"} if code >= 400 else {"status": "stored"})})
            return httpx.Response(200, json={"results": results})
        self.requests.append((request.url.path, 1))
        self.took.append((doc["leaseId"], doc["sequence"]))
        return httpx.Response(202, json={"status": "stored"})


def test_several_leases_go_to_an_oracle_in_one_batch_and_each_answer_counts(tmp_path: Path) -> None:
    state = WorkerState(tmp_path / "w.sqlite")
    for lease_id in (1, 2, 3):
        _lease_row(state, lease_id)
    oracle = BatchOracle([202, 503, 422])  # lease 2 busy: retried; lease 3 refused: final
    live = [LeaseLiveness(i, [i], 100 + i, True) for i in (1, 2, 3)]
    sender = HeartbeatSender(
        state=state, private_key=bytes(Account.create().key), provider=PROVIDER, domain=DOMAIN,
        oracles=["http://o1"], live=lambda: live, interval=30, transport=httpx.MockTransport(oracle),
    )  # fmt: skip
    t = 1_700_000_010
    sender.tick(t)
    assert oracle.requests == [("/v1/heartbeats/batch", 3)]
    rows = state.execute("SELECT lease_id, done, attempts FROM heartbeat_outbox ORDER BY lease_id")
    assert rows == [(1, 1, 0), (2, 0, 1), (3, 2, 0)]
    sender.send_due(t + 60)  # only lease 2 is due again: alone, it goes as a single heartbeat
    assert oracle.requests[-1] == ("/v1/heartbeats", 1)
    assert sorted(oracle.took) == [(1, t // 30), (2, t // 30)]


def test_an_oracle_without_batches_gets_the_heartbeats_one_by_one(tmp_path: Path) -> None:
    state = WorkerState(tmp_path / "w.sqlite")
    for lease_id in (1, 2):
        _lease_row(state, lease_id)
    oracle = BatchOracle(batches=False)
    live = [LeaseLiveness(i, [i], 100 + i, True) for i in (1, 2)]
    sender = HeartbeatSender(
        state=state, private_key=bytes(Account.create().key), provider=PROVIDER, domain=DOMAIN,
        oracles=["http://o1"], live=lambda: live, interval=30, transport=httpx.MockTransport(oracle),
    )  # fmt: skip
    sender.tick(1_700_000_010)
    assert oracle.requests == [("/v1/heartbeats/batch", 0), ("/v1/heartbeats", 1), ("/v1/heartbeats", 1)]
    assert state.execute("SELECT done FROM heartbeat_outbox") == [(1,), (1,)]


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    from gpusettle.leases.models import MAX_HEARTBEAT_BATCH
    from gpusettle.worker.heartbeat import BATCH_BYTES, _chunks

    small = [(i, 0, "o", "x" * 100, 0) for i in range(MAX_HEARTBEAT_BATCH * 2 + 1)]
    assert [len(c) for c in _chunks(small)] == [MAX_HEARTBEAT_BATCH, MAX_HEARTBEAT_BATCH, 1]
    big = [(i, 0, "o", "x" * (BATCH_BYTES // 3), 0) for i in range(7)]
    chunks = _chunks(big)
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    assert all(sum(len(r[3]) + 1 for r in c) <= BATCH_BYTES for c in chunks)
