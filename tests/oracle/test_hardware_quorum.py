"""Co-signed (M-of-N) hardware records (issue 12): a peer co-signs a hardware verdict only when a challenge of its
own agrees, the record describes the offer as the chain has it, and the record is fresh; the route is open to
oracle-set members only; and against anvil with a 2-of-2 oracle set a check is recorded with both signatures, while
a verdict the peer's own challenge contradicts is never sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from starlette.testclient import TestClient

from gpusettle.chain.client import OracleSet
from gpusettle.devnet import Anvil, DevNet, free_port
from gpusettle.eip712 import CompactSignature, Domain, recover
from gpusettle.errors import ConfigError
from gpusettle.hardware.attest import check_digest, registry_domain
from gpusettle.hardware.models import HardwareCheck
from gpusettle.hardware.sizing import ChallengeSettings
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.hardware import HardwareChecker, record_check
from gpusettle.oracle.hardware_quorum import (
    HARDWARE_COSIGN_PATH,
    HardwareCosigner,
    HardwareCosignRequest,
    HardwareQuorum,
)
from gpusettle.oracle.quorum import QuorumError
from gpusettle.oracle.store import SQLiteStore
from gpusettle.signed_requests import peer_request_headers
from gpusettle.worker.hardware import HARDWARE_PATH, HardwareResponder
from gpusettle.worker.probe import ProbeServer, peer_auth
from tests.oracle.helpers import CHAIN_ID, ESCROW, oracle_app

E18 = 10**18
PEER_KEY = bytes.fromhex("31" * 32)
PEER = Account.from_key(PEER_KEY).address
ASKER_KEY = bytes.fromhex("32" * 32)
ASKER = Account.from_key(ASKER_KEY).address
PROVIDER = Account.from_key(bytes.fromhex("33" * 32)).address
REGISTRY = "0x" + "4e" * 20
DOMAIN = registry_domain(CHAIN_ID, REGISTRY)
PEER_DOMAIN = Domain(CHAIN_ID, ESCROW)
SETTINGS = ChallengeSettings(scale=0.0004, min_n=16, sampled_rows=12)


def record(passed: bool = True, checked_at: float | None = None, **over: Any) -> HardwareCheck:
    fields: dict[str, Any] = {
        "offerId": 1,
        "challengeId": "0x" + "ab" * 32,
        "checkedAt": int(checked_at if checked_at is not None else time.time()),
        "passed": passed,
        "gpuCount": 2,
        "vramGb": 80,
        "elapsedMs": 40,
        "resultRoot": "0x" + "cd" * 32,
    }
    fields.update(over)
    return HardwareCheck.model_validate(fields)


class FakeView:
    def __init__(self, epoch: int = 3, terms: tuple[str, int, int, bool] = (PROVIDER, 2, 80, True)) -> None:
        self.epoch, self.terms = epoch, terms

    def oracle_epoch(self) -> int:
        return self.epoch

    def offer_terms(self, offer_id: int) -> tuple[str, int, int, bool]:
        return self.terms


class OwnChallenges:
    """This peer's own challenges: each returns a fresh verdict with `passed`, counted."""

    def __init__(self, passed: bool = True) -> None:
        self.passed, self.calls = passed, 0

    def __call__(self, offer_id: int, url: str) -> HardwareCheck:
        self.calls += 1
        assert url == "http://worker.test"
        return record(self.passed, challengeId="0x" + "ee" * 32)


def cosigner(own: OwnChallenges, view: FakeView | None = None, **kw: Any) -> HardwareCosigner:
    return HardwareCosigner(
        view=view or FakeView(),
        challenge=own,
        worker_urls={PROVIDER: "http://worker.test"},
        registry_domain=DOMAIN,
        key=PEER_KEY,
        **kw,
    )


def test_a_peer_cosigns_only_what_its_own_challenge_agrees_with() -> None:
    own = OwnChallenges(passed=True)
    peer = cosigner(own)
    check = record(passed=True)
    status, answer = peer(HardwareCosignRequest(epoch=3, check=check), ASKER)
    assert status == 200
    sig = CompactSignature.from_hex(answer["r"], answer["vs"])
    assert recover(check_digest(check, 3, DOMAIN), sig) == PEER
    # A failed record of an offer this peer just found healthy: refused with the reason, nothing signed.
    status, answer = peer(HardwareCosignRequest(epoch=3, check=record(passed=False)), ASKER)
    assert status == 409 and "own challenge of offer 1 passed (the record says failed)" in answer["rejected"]["1"]
    assert own.calls == 1  # the second request reused the verdict of the first


def test_a_failed_record_is_cosigned_when_the_peer_also_finds_the_offer_failing() -> None:
    peer = cosigner(OwnChallenges(passed=False))
    assert peer(HardwareCosignRequest(epoch=3, check=record(passed=False)), ASKER)[0] == 200
    status, answer = peer(HardwareCosignRequest(epoch=3, check=record(passed=True)), ASKER)
    assert status == 409 and "failed (the record says passed)" in answer["rejected"]["1"]


@pytest.mark.parametrize(
    ("epoch", "fields", "view", "reason"),
    [
        (2, {}, None, "epoch is 3, not 2"),
        (3, {"age": 3600}, None, "not within 900 s"),
        (3, {"age": -600}, None, "not within 900 s"),
        (3, {"gpuCount": 4}, None, "claims 2 x 80 GB"),
        (3, {}, FakeView(terms=(PROVIDER, 2, 80, False)), "withdrawn"),
        (3, {}, FakeView(terms=(ASKER, 2, 80, True)), f"knows no worker URL for provider {ASKER}"),
    ],
)
def test_refusals_say_why_and_run_no_challenge(epoch: int, fields: dict[str, Any], view: Any, reason: str) -> None:
    fields = dict(fields)
    check = record(checked_at=time.time() - fields.pop("age", 0), **fields)  # dated when the test runs
    own = OwnChallenges()
    status, answer = cosigner(own, view)(HardwareCosignRequest(epoch=epoch, check=check), ASKER)
    assert status == 409 and reason in answer["rejected"]["1"], answer
    assert own.calls == 0


def test_an_old_own_verdict_is_not_reused() -> None:
    clock = [time.time()]
    own = OwnChallenges()
    peer = cosigner(own, clock=lambda: clock[0], reuse_within=60)
    peer(HardwareCosignRequest(epoch=3, check=record(checked_at=clock[0])), ASKER)
    clock[0] += 61
    peer(HardwareCosignRequest(epoch=3, check=record(checked_at=clock[0])), ASKER)
    assert own.calls == 2


def test_the_route_takes_signed_requests_from_oracle_set_members_only(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "oracle.sqlite")
    view = StaticChainView(CHAIN_ID, ESCROW, {}, oracle_set=OracleSet((ASKER, PEER), 2, 3))
    app = oracle_app(store, tmp_path / "results", view, cosign_hardware=cosigner(OwnChallenges()))
    body = HardwareCosignRequest(epoch=3, check=record()).model_dump_json().encode()

    def post(key: bytes, address: str, content: bytes = body) -> httpx.Response:
        headers = peer_request_headers(
            PEER_DOMAIN, key, address, "POST", HARDWARE_COSIGN_PATH, int(time.time()), content
        )
        return client.post(HARDWARE_COSIGN_PATH, content=content, headers=headers)

    try:
        with TestClient(app.asgi()) as client:
            ok = post(ASKER_KEY, ASKER)
            assert ok.status_code == 200 and set(ok.json()) == {"r", "vs"}
            stranger = Account.from_key(bytes.fromhex("34" * 32))
            assert post(bytes(stranger.key), stranger.address).status_code == 403
            assert client.post(HARDWARE_COSIGN_PATH, content=body).status_code == 401
            bad = post(ASKER_KEY, ASKER, json.dumps({"epoch": 3}).encode())
            assert bad.status_code == 422 and "hardware cosign request" in bad.json()["reason"]
        bare = oracle_app(store, tmp_path / "results", view)
        with TestClient(bare.asgi()) as client:
            assert post(ASKER_KEY, ASKER).status_code == 404
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- against anvil


@pytest.fixture(scope="module")
def two_of_two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevNet, Any, Any, int]]:
    workdir = tmp_path_factory.mktemp("hardware-quorum")
    anvil = Anvil(port=free_port(), log_path=workdir / "anvil.log").start()
    try:
        net = DevNet(anvil, workdir)
        keys = net.new_accounts(["a", "b", "provider", "worker"], eth=100)
        net.deploy([keys["a"].address, keys["b"].address], threshold=2)
        net.fund_tokens({keys["provider"].address: 100_000 * E18})
        offer = net.setup_provider(
            keys["provider"], keys["worker"].address, stake=50_000 * E18, gpu_model="NVIDIA H100 80GB HBM3",
            gpu_count=2, vram_gb=80, price=10**15,
        )  # fmt: skip
        yield net, keys["a"], keys["b"], offer
    finally:
        anvil.stop()


def _peer_transport(peer: HardwareCosigner, asker: str) -> httpx.MockTransport:
    """Oracle B as oracle A reaches it: the request body goes to B's co-signer (the route is tested above)."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == HARDWARE_COSIGN_PATH
        status, answer = peer(HardwareCosignRequest.model_validate_json(request.content), asker)
        return httpx.Response(status, json=answer)

    return httpx.MockTransport(handle)


def test_two_of_two_records_a_check_both_oracles_verified(two_of_two: tuple[DevNet, Any, Any, int]) -> None:
    net, a, b, offer = two_of_two
    gs = net.gs
    registry = gs.hardware_registry
    assert registry is not None
    domain = Domain(gs.chain.chain_id, str(gs.escrow.address))
    server = ProbeServer(
        lambda _lease: None,
        False,
        hardware=HardwareResponder(
            False, auth=peer_auth(domain, lambda: set(gs.oracle_set().oracles), path=HARDWARE_PATH)
        ).handle,
    ).start()
    url = f"http://127.0.0.1:{server.port}"
    provider = gs.offer(offer).provider
    checker_a = HardwareChecker(gs, a, SETTINGS)
    checker_b = HardwareChecker(gs, b, SETTINGS)
    rdomain = registry_domain(gs.chain.chain_id, str(registry.address))

    class ChainView:
        @staticmethod
        def oracle_epoch() -> int:
            return gs.oracle_set().epoch

        @staticmethod
        def offer_terms(offer_id: int) -> tuple[str, int, int, bool]:
            o = gs.offer(offer_id)
            return o.provider, o.gpu_count, o.vram_gb, o.active

    b_challenges: list[int] = []

    def b_challenge(offer_id: int, worker_url: str) -> HardwareCheck:
        b_challenges.append(offer_id)
        return checker_b.challenge(offer_id, worker_url).check

    peer_b = HardwareCosigner(ChainView(), b_challenge, {provider: url}, rdomain, bytes(b.key))
    quorum = HardwareQuorum(
        rdomain, domain, bytes(a.key), a.address, peers=["http://oracle-b.test"],
        transport=_peer_transport(peer_b, a.address),
    )  # fmt: skip
    try:
        verdict = checker_a.challenge(offer, url)
        assert verdict.check.passed
        with pytest.raises(ConfigError, match="needs 2 signatures"):
            record_check(gs, a, verdict.check)  # alone, with no peers: refused before sending
        assert not registry.functions.isVerified(offer, 0).call()
        tx = record_check(gs, a, verdict.check, quorum)
        assert b_challenges == [offer]  # B checked the offer itself before it signed
        receipt = gs.chain.w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
        (event,) = [e for e in gs.chain.decode_logs(receipt["logs"]) if e.name == "HardwareChecked"]
        assert event.args["passed"] is True and "0x" + bytes(event.args["challengeId"]).hex() == (
            verdict.check.challengeId
        )
        assert registry.functions.isVerified(offer, 0).call()

        # A says the offer failed; B's own (reused, passing) verdict disagrees: nothing is sent.
        failed = verdict.check.model_copy(update={"passed": False, "challengeId": "0x" + "77" * 32})
        with pytest.raises(QuorumError) as refused:
            record_check(gs, a, failed, quorum)
        assert "the record says failed" in refused.value.rejected[offer][0]
        assert registry.functions.isVerified(offer, 0).call()  # the passing record stands
    finally:
        checker_a.close()
        checker_b.close()
        server.stop()


def test_a_peer_that_cannot_check_now_says_so_without_a_verdict() -> None:
    def broken(offer_id: int, url: str) -> HardwareCheck:
        raise httpx.ConnectError("the node is down")

    status, answer = cosigner(broken)(HardwareCosignRequest(epoch=3, check=record()), ASKER)  # type: ignore[arg-type]
    assert status == 503 and "cannot check offer 1 now" in answer["reason"] and "rejected" not in answer
