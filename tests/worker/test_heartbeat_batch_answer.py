"""Attack review of 2026-12-03 (failing at 91a1cf1, passing from the commit that adds this file) (heartbeat batches, worker side): one oracle's 200 answer to POST /v1/heartbeats/batch whose
JSON is not an object (a list, a string, null) makes `HeartbeatSender._deliver` call `.get` on it: AttributeError
escapes `send_due`, so the pass stops before the other oracles' heartbeats are sent, and since the hostile
oracle's rows are never rescheduled (no backoff) it happens again on every pass. One oracle of the worker's list
(malicious, or behind a broken proxy) thereby keeps the provider's heartbeats from the honest oracles: the
leases count as down there (less pay, uptime-guarantee penalties from the collateral)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from gpusettle.leases.eip712 import lease_domain
from gpusettle.worker.heartbeat import HeartbeatSender, LeaseLiveness
from gpusettle.worker.state import WorkerState

DOMAIN = lease_domain(31337, "0x" + "ab" * 20)
PROVIDER = "0x" + "22" * 20
HONEST = "http://b-honest-oracle"


def _lease_row(state: WorkerState, lease_id: int) -> None:
    state.execute(
        "INSERT INTO leases (lease_id, state, offer_id, gpu_count, spec_hash, created_at, updated_at) "
        "VALUES (?, 'running', 1, 1, '0x', 0, 0)",
        (lease_id,),
    )


@pytest.mark.parametrize("hostile_first", [True, False])
@pytest.mark.parametrize("hostile", ["http://a-hostile-oracle", "http://z-hostile-oracle"])
def test_one_oracle_answering_a_json_list_does_not_stop_heartbeats_to_the_others(
    tmp_path: Path, hostile: str, hostile_first: bool
) -> None:
    """Whatever its URL or place in the list: even served after the honest oracle in the first bucket, its rows
    stay due and sort first (ORDER BY sequence) from the next bucket on."""
    honest_got: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "hostile" in request.url.host:
            return httpx.Response(200, json=[])  # valid JSON, not an object
        doc = json.loads(request.content)
        beats = doc["heartbeats"] if request.url.path.endswith("/batch") else [doc]
        honest_got.extend((b["leaseId"], b["sequence"]) for b in beats)
        if request.url.path.endswith("/batch"):
            return httpx.Response(200, json={"results": [{"code": 202, "status": "stored"} for _ in beats]})
        return httpx.Response(202, json={"status": "stored"})

    state = WorkerState(tmp_path / "w.sqlite")
    for lease_id in (1, 2):
        _lease_row(state, lease_id)
    live = [LeaseLiveness(i, [i], 100 + i, True) for i in (1, 2)]
    sender = HeartbeatSender(
        state=state, private_key=bytes(Account.create().key), provider=PROVIDER, domain=DOMAIN,
        oracles=[hostile, HONEST] if hostile_first else [HONEST, hostile], live=lambda: live, interval=30, transport=httpx.MockTransport(handler),
    )  # fmt: skip
    t = 1_700_000_010
    errors: list[BaseException] = []
    for k in range(20):  # the worker's loop retries a failed pass every 2 s; two buckets of 30 s
        try:
            sender.tick(t + 2 * k)
        except Exception as exc:  # noqa: BLE001 - recorded, as the worker's loop logs and goes on
            errors.append(exc)
    wanted = [(lease, t // 30 + b) for lease in (1, 2) for b in (0, 1)]
    assert sorted(set(honest_got)) == wanted, (
        f"the honest oracle got {honest_got}; send_due raised {errors[:1]!r} on each of {len(errors)} passes"
    )
    assert errors == []
