"""gpusettle.leases against the real LeaseEscrow on anvil: the domain separator, checkpoint digests
(extreme values included) and attestation digests the contract computes equal ours; getLease decodes
into LeaseTerms by its ABI names.

The compiled contract comes from brownie's build (build/contracts/LeaseEscrow.json, after `make compile`
on a tree that has contracts/LeaseEscrow.sol) or $GPUSETTLE_LEASE_ARTIFACT ({"abi", "bytecode"})."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from web3 import Web3

from gpusettle.devnet.anvil import Anvil
from gpusettle.leases.eip712 import (
    checkpoint_attestation_digest,
    checkpoint_digest,
    checkpoints_hash,
    lease_domain,
)
from gpusettle.leases.models import Checkpoint, LeaseStatus
from gpusettle.oracle.leaseview import decode_lease

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = Path(os.environ.get("GPUSETTLE_LEASE_ARTIFACT", ROOT / "build" / "contracts" / "LeaseEscrow.json"))
GETLEASE_NAMES = [
    "status", "client", "provider", "offerId", "gpuCount", "pricePerGpuSecond", "ratePerSecond", "deposit", "paid",
    "paidThrough", "startedAt", "acceptBy", "endTime", "billingEnd", "runwayEnd", "availabilityClass",
    "noticeSeconds", "uptimeGuaranteeBps", "collateral", "specHash", "upSeconds", "downSeconds", "refundable",
    "lastCheckpointAt", "disputeBond", "collateralReleased", "rulingDeadline",
]  # fmt: skip
"""ILeaseEscrowTypes.LeaseView's fields, in order."""


def test_getlease_output_decodes_by_name() -> None:
    a, b = "0x00000000000000000000000000000000000000a1", "0x00000000000000000000000000000000000000b2"
    values: list[Any] = [
        2,
        a,
        b,
        3,
        2,
        10,
        20,
        10**18,
        0,
        1000,
        900,
        800,
        0,
        0,
        5000,
        1,
        600,
        9900,
        7,
        b"\x00" * 32,
    ]
    values += [0, 0, 0, 0, 0, False, 0]
    terms = decode_lease(4, GETLEASE_NAMES, values)
    assert terms.status == LeaseStatus.RUNNING and terms.provider == Web3.to_checksum_address(b)
    assert (terms.paidThrough, terms.startedAt, terms.runwayEnd, terms.ratePerSecond) == (1000, 900, 5000, 20)
    assert (terms.availabilityClass, terms.noticeSeconds, terms.uptimeGuaranteeBps) == (1, 600, 9900)
    assert terms.billing_end() == 5000


ORACLE = Account.from_key(bytes.fromhex("44" * 32))


def _oracle_set_stub(w3: Web3) -> str:
    """A contract answering every call with oracleSet()'s encoding of ([ORACLE], threshold 1, epoch 1):
    the job escrow as LeaseEscrow reads it when checking an attestation."""
    blob = abi_encode(["address[]", "uint8", "uint64"], [[ORACLE.address], 1, 1])
    prefix_len = 15  # PUSH2 len PUSH2 offset PUSH1 0 CODECOPY PUSH2 len PUSH1 0 RETURN
    size = len(blob).to_bytes(2, "big").hex()
    code = f"61{size}61{prefix_len:04x}600039" + f"61{size}6000f3" + blob.hex()
    address = "0x000000000000000000000000000000000000c0De"
    w3.provider.make_request("anvil_setCode", [address, "0x" + code])  # type: ignore[arg-type]
    return Web3.to_checksum_address(address)


@pytest.fixture(scope="module")
def escrow() -> Iterator[tuple[Web3, Any, dict[str, Any]]]:
    if not ARTIFACT.exists():
        pytest.skip(f"no compiled LeaseEscrow at {ARTIFACT} (the contract is on branch lc until merged)")
    art = json.loads(ARTIFACT.read_text())
    bytecode = art["bytecode"] if art["bytecode"].startswith("0x") else "0x" + art["bytecode"]
    node = Anvil(extra_args=["--code-size-limit", "100000"]).start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        accounts = w3.eth.accounts
        # The constructor reads the staking contract's unbonding period: a stub answers 7 days to any call.
        stub = "0x000000000000000000000000000000000000bEEF"
        w3.provider.make_request(
            "anvil_setCode", [stub, "0x7f" + (604800).to_bytes(32, "big").hex() + "60005260206000f3"]
        )  # type: ignore[arg-type]
        # The token: the constructor asks its total supply (it refuses one above 2^96 - 1); a stub answers 1 to
        # any call (a supply of 1, and `true` to a transfer).
        token = Web3.to_checksum_address("0x" + "00" * 18 + "beee")
        w3.provider.make_request(
            "anvil_setCode", [token, "0x7f" + (1).to_bytes(32, "big").hex() + "60005260206000f3"]
        )  # type: ignore[arg-type]
        params = [100, 3600, 5000, 5000, 86400, 3600, 3600, 0]
        factory = w3.eth.contract(abi=art["abi"], bytecode=bytecode)
        tx = factory.constructor(token, stub, _oracle_set_stub(w3), accounts[0], params).transact(
            {"from": accounts[0], "gas": 30_000_000}
        )
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1
        yield w3, w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"]), art
    finally:
        node.stop()


def test_digests_equal_the_contracts(escrow: tuple[Web3, Any, dict[str, Any]]) -> None:
    w3, contract, _ = escrow
    domain = lease_domain(w3.eth.chain_id, contract.address)
    assert bytes(contract.functions.domainSeparator().call()) == domain.separator()
    checkpoints = [
        Checkpoint(leaseId=7, fromTime=1_700_000_000, toTime=1_700_000_600, upSeconds=570, downSeconds=30,
                   heartbeatsRoot="0x" + "cd" * 32),
        Checkpoint(leaseId=2**200, fromTime=5, toTime=2**64 - 1, upSeconds=2**63, downSeconds=2**64 - 1 - 5 - 2**63,
                   heartbeatsRoot="0x" + "00" * 32),
    ]  # fmt: skip
    for cp in checkpoints:
        assert bytes(contract.functions.checkpointDigest(cp.as_tuple()).call()) == checkpoint_digest(
            cp, domain
        )
    batch = checkpoints_hash(checkpoints)
    for epoch in (0, 1, 2**64 - 1):
        ours = checkpoint_attestation_digest(batch, epoch, domain)
        assert bytes(contract.functions.attestationDigest(batch, epoch).call()) == ours


def test_getlease_fields_are_the_ones_decoded(escrow: tuple[Web3, Any, dict[str, Any]]) -> None:
    _, _, art = escrow
    get_lease = next(f for f in art["abi"] if f.get("name") == "getLease")
    assert [c["name"] for c in get_lease["outputs"][0]["components"]] == GETLEASE_NAMES


def test_web3_lease_view_reads_the_escrow(escrow: tuple[Web3, Any, dict[str, Any]]) -> None:
    from gpusettle.oracle.leaseview import Web3LeaseView

    w3, contract, _ = escrow
    view = Web3LeaseView(
        lambda: (contract, lambda: int(w3.eth.get_block("latest")["timestamp"])), w3.eth.chain_id
    )
    assert view.lease_escrow_address == contract.address
    assert view.lease_count() == 0
    assert view.leases([1, 2, 0, 2**70]) == {}  # none opened: unknown leases are simply absent
    assert view.chain_time() > 0


def test_the_poster_submits_through_the_real_contract(
    escrow: tuple[Web3, Any, dict[str, Any]], tmp_path: Path
) -> None:
    """A checkpoint for a lease that is not running, attested by the set's oracle: the contract checks the
    attestation and skips the checkpoint (CheckpointSkipped, NotRunning); the poster stores the batch before
    broadcasting, follows it to finality and records the skip with its reason."""
    import time

    from gpusettle.chain import OracleSet
    from gpusettle.chain.tx import Chain
    from gpusettle.eip712 import Domain
    from gpusettle.oracle.chainview import StaticChainView
    from gpusettle.oracle.checkpoint_poster import CheckpointPoster
    from gpusettle.oracle.checkpoint_quorum import CheckpointQuorum
    from gpusettle.oracle.poster import PosterSettings
    from gpusettle.oracle.store import CHECKPOINT_BUILT, CHECKPOINT_SKIPPED, SQLiteStore

    w3, contract, _ = escrow
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": ORACLE.address, "value": 10**18})
    chain = Chain(w3, str(w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    now = chain.timestamp("latest")
    store = SQLiteStore(tmp_path / "oracle.sqlite")
    try:
        store.add_checkpoint(1, now - 100, now - 10, 60, 30, bytes(32), False)
        poster = CheckpointPoster(
            store=store,
            chain=chain,
            contract=contract,
            account=ORACLE,
            quorum=CheckpointQuorum(
                lease_domain(w3.eth.chain_id, contract.address), Domain(w3.eth.chain_id, contract.address),
                bytes(ORACLE.key), ORACLE.address,
            ),
            view=StaticChainView(w3.eth.chain_id, contract.address, {}, oracle_set=OracleSet((ORACLE.address,), 1, 1)),
            confirmations=1,
            settings=PosterSettings(batch_wait=0.0),
        )  # fmt: skip
        assert poster.step()
        for _ in range(50):
            poster.step()
            if not store.open_checkpoint_batches():
                break
            time.sleep(0.1)
        (skipped,) = store.lease_checkpoints(1)
        assert skipped.status == CHECKPOINT_SKIPPED and "not running" in (skipped.note or ""), skipped
        # An attestation by a key outside the set: the contract refuses the whole batch at estimation,
        # nothing is stored as sent.
        store.add_checkpoint(1, now - 100, now - 20, 0, 80, bytes(32), False)  # replaces the skipped one
        stranger = Account.from_key(bytes.fromhex("66" * 32))
        poster.quorum = CheckpointQuorum(
            lease_domain(w3.eth.chain_id, contract.address), Domain(w3.eth.chain_id, contract.address),
            bytes(stranger.key), stranger.address,
        )  # fmt: skip
        poster.view = StaticChainView(
            w3.eth.chain_id, contract.address, {}, oracle_set=OracleSet((stranger.address,), 1, 1)
        )
        assert not poster.post_once()
        assert (
            store.open_checkpoint_batches() == [] and store.lease_checkpoints(1)[0].status == CHECKPOINT_BUILT
        )
    finally:
        store.close()
