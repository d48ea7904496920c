"""An OracleService that follows a LeaseEscrow: heartbeats through its app, a peer co-signing a
checkpoint batch over HTTP (POST /v1/cosign/checkpoints) only when its own heartbeats back it, and M-of-N
gathered from that peer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from starlette.testclient import TestClient

from gpusettle.chain import Gpusettle, OracleSet
from gpusettle.eip712 import Domain, recover
from gpusettle.leases.eip712 import checkpoint_attestation_digest, checkpoints_hash, lease_domain
from gpusettle.leases.models import Checkpoint
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.checkpoint_quorum import CHECKPOINT_COSIGN_PATH, CheckpointCosignRequest
from gpusettle.oracle.leaseview import StaticLeaseView
from gpusettle.oracle.quorum import QuorumError
from gpusettle.oracle.service import OracleConfig, OracleService
from gpusettle.signed_requests import peer_request_headers
from tests.oracle.helpers import (
    CHAIN_ID,
    ESCROW,
    INTERVAL,
    LEASE_ESCROW,
    PROVIDER_CS,
    WORKER,
    heartbeat_doc,
    lease_terms,
    offline_client,
)

A = Account.from_key(bytes.fromhex("44" * 32))
B = Account.from_key(bytes.fromhex("55" * 32))
STRANGER = Account.from_key(bytes.fromhex("66" * 32))
START = 0
"""Where the lease started: 15 buckets before the test runs (set per test; heartbeats older than the
oracle's age window are refused, and collection may happen minutes before the run)."""


@pytest.fixture(autouse=True)
def fresh_start() -> None:
    global START
    START = (int(time.time()) // INTERVAL - 15) * INTERVAL


def service(tmp_path: Path, account: LocalAccount, leases: StaticLeaseView) -> OracleService:
    oracle_set = OracleSet((A.address, B.address), 2, 3)
    return OracleService(
        OracleConfig(data_dir=tmp_path / account.address, post=False),
        client_factory=lambda: cast(Gpusettle, offline_client()),
        oracle_account=account,
        view=StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER}, oracle_set=oracle_set),
        lease_view=leases,
    )


@pytest.fixture
def leases() -> StaticLeaseView:
    return StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: lease_terms(1, started=START, paid_through=START)})


@pytest.fixture
def peer(tmp_path: Path, leases: StaticLeaseView) -> Iterator[tuple[OracleService, TestClient]]:
    svc = service(tmp_path, B, leases)
    with TestClient(svc.app.asgi()) as http:
        # The peer saw heartbeats for the first 10 buckets of the lease, all up.
        for k in range(10):
            doc = heartbeat_doc(1, ts=START + k * INTERVAL + 1)
            response = http.post(
                "/v1/heartbeats", content=json.dumps(doc), headers={"content-type": "application/json"}
            )
            assert response.status_code == 202, response.text
        yield svc, http
    svc.stop()


def checkpoint(up: int) -> Checkpoint:
    return Checkpoint(
        leaseId=1,
        fromTime=START,
        toTime=START + 420,
        upSeconds=up,
        downSeconds=420 - up,
        heartbeatsRoot="0x" + "00" * 32,
    )


def ask(
    http: TestClient, cp: Checkpoint, signer: LocalAccount, epoch: int = 3
) -> tuple[int, dict[str, object]]:
    body = CheckpointCosignRequest(epoch=epoch, checkpoints=[cp]).model_dump_json().encode()
    headers = peer_request_headers(
        Domain(CHAIN_ID, ESCROW),
        bytes(signer.key),
        signer.address,
        "POST",
        CHECKPOINT_COSIGN_PATH,
        int(time.time()),
        body,
    )
    headers["content-type"] = "application/json"
    response = http.post(CHECKPOINT_COSIGN_PATH, content=body, headers=headers)
    return response.status_code, response.json()


def test_a_peer_cosigns_only_what_its_own_heartbeats_back(peer: tuple[OracleService, TestClient]) -> None:
    _, http = peer
    status, answer = ask(http, checkpoint(300), A)
    assert status == 200, answer
    digest = checkpoint_attestation_digest(
        checkpoints_hash([checkpoint(300)]), 3, lease_domain(CHAIN_ID, LEASE_ESCROW)
    )
    from gpusettle.eip712 import CompactSignature

    assert recover(digest, CompactSignature.from_hex(str(answer["r"]), str(answer["vs"]))) == B.address
    status, answer = ask(http, checkpoint(330), A)  # more up time than the peer saw
    assert status == 409 and "saw 300" in str(answer["rejected"])
    assert ask(http, checkpoint(300), A, epoch=2)[1]["error"] == "wrong_epoch"
    assert ask(http, checkpoint(300), STRANGER)[0] == 403


def test_quorum_gathers_the_peers_signature(
    tmp_path: Path, leases: StaticLeaseView, peer: tuple[OracleService, TestClient]
) -> None:
    _, http = peer
    asking = service(tmp_path, A, leases)
    try:
        assert asking.lease_work is not None
        quorum = asking.lease_work.quorum
        quorum.peers = ["http://testserver"]
        quorum.transport = http._transport  # the peer's app, in-process
        att = quorum.attest([checkpoint(300)], 3, [A.address, B.address], 2)
        assert list(att.signers) == sorted([A.address, B.address], key=lambda a: int(a, 16))
        with pytest.raises(QuorumError) as refused:
            quorum.attest([checkpoint(400)], 3, [A.address, B.address], 2)
        assert 1 in refused.value.rejected
    finally:
        asking.stop()


def test_the_service_reports_uptime(peer: tuple[OracleService, TestClient]) -> None:
    _, http = peer
    got = http.get(f"/v1/leases/1/uptime?from={START}&to={START + 420}").json()
    assert (got["upSeconds"], got["downSeconds"], got["heartbeats"]) == (300, 120, 10)


def test_worker_urls_option_is_checked() -> None:
    from gpusettle.errors import ConfigError
    from gpusettle.oracle.cli import _worker_urls

    lower = PROVIDER_CS.lower()
    assert _worker_urls((f"{lower}=http://gpu-box:8800/",)) == {PROVIDER_CS: "http://gpu-box:8800"}
    for bad in ("nope", f"{lower}=ftp://x", "0x12=http://x"):
        with pytest.raises(ConfigError, match="PROVIDER=URL"):
            _worker_urls((bad,))


def test_the_checkpointer_thread_builds_from_the_heartbeats(tmp_path: Path, leases: StaticLeaseView) -> None:
    from gpusettle.oracle.checkpoints import CheckpointSettings
    from gpusettle.oracle.lease_work import LeaseSettings
    from gpusettle.oracle.probes import ProbeSettings

    settings = LeaseSettings(
        probes=ProbeSettings(every=0),
        checkpoints=CheckpointSettings(every=60, settle_lag=5),
        refresh_every=0.1,
    )
    svc = OracleService(
        OracleConfig(data_dir=tmp_path / "svc", post=False, leases=settings, poll_interval=0.05),
        client_factory=lambda: cast(Gpusettle, offline_client()),
        oracle_account=A,
        view=StaticChainView(
            CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER}, oracle_set=OracleSet((A.address,), 1, 3)
        ),
        lease_view=leases,
    )
    try:
        with TestClient(svc.app.asgi()) as http:
            for k in range(4):
                doc = heartbeat_doc(1, ts=START + k * INTERVAL + 1)
                assert http.post("/v1/heartbeats", json=doc).status_code == 202
        svc.start_background()
        deadline = time.monotonic() + 10
        while not svc.store.lease_checkpoints(1) and time.monotonic() < deadline:
            time.sleep(0.05)
        (built,) = svc.store.lease_checkpoints(1)
        assert built.from_time == START and built.up_seconds == 4 * INTERVAL
        assert built.up_seconds + built.down_seconds == built.to_time - START
    finally:
        svc.stop()
