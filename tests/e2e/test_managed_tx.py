"""chain.tx's managed sending, the parts the oracle's poster is built from (issue 9, item 8: one
transaction manager): fees and replacements under a cap, nonces from the sender's own record, stored raw
transactions broadcast again safely, and finality that notices a reorganisation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from gpusettle.chain.tx import GWEI, Chain, FeePolicy, FinalityState, next_nonce
from gpusettle.devnet import Anvil, free_port
from tests.e2e.conftest import PORTS


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Anvil, Chain, LocalAccount]]:
    anvil = Anvil(port=free_port(*PORTS), log_path=tmp_path_factory.mktemp("tx") / "anvil.log").start()
    try:
        account = Account.create()
        anvil.rpc("anvil_setBalance", [account.address, hex(10**20)])
        yield anvil, Chain.connect(anvil.url), account
    finally:
        anvil.stop()


def test_next_nonce_comes_from_the_senders_record() -> None:
    assert next_nonce(mined=5, recorded=9, open_nonces=[]) == 5  # nothing pending: the chain's count
    assert next_nonce(mined=5, recorded=9, open_nonces=[5, 6]) == 9
    assert next_nonce(mined=8, recorded=None, open_nonces=[6, 7]) == 8
    assert next_nonce(mined=5, recorded=6, open_nonces=[5, 7]) == 8


def test_replacements_rise_and_stop_at_the_cap(node: tuple[Anvil, Chain, LocalAccount]) -> None:
    _, chain, _ = node
    policy = FeePolicy(max_fee_cap=10 * GWEI, priority_fee=GWEI, bump_percent=20)
    max_fee, tip = chain.eip1559_fees(policy)
    assert tip == GWEI and max_fee <= policy.max_fee_cap
    bumped = chain.replacement_fees(max_fee, tip, policy)
    assert bumped is not None and bumped[0] >= max_fee * 110 // 100 and bumped[1] > tip
    assert chain.replacement_fees(10 * GWEI, GWEI, policy) is None  # at the cap
    assert chain.replacement_fees(int(9.5 * GWEI), GWEI, policy) is None  # +10% would pass the cap


def test_a_stored_transaction_is_broadcast_again_safely_and_followed_to_finality(
    node: tuple[Anvil, Chain, LocalAccount], tmp_path: Path
) -> None:
    anvil, chain, account = node
    policy = FeePolicy(priority_fee=GWEI)
    anvil.rpc("evm_setAutomine", [False])
    try:
        max_fee, tip = chain.eip1559_fees(policy)
        nonce = next_nonce(chain.mined_nonce(account.address), None, [])
        first = chain.sign_eip1559(
            account, to=account.address, data=b"", gas=21_000, nonce=nonce, max_fee=max_fee, tip=tip
        )
        assert chain.broadcast(first.raw) is None
        assert chain.broadcast(first.raw) is None  # the node already has it: harmless
        fees = chain.replacement_fees(first.max_fee, first.priority_fee, policy)
        assert fees is not None
        second = chain.resign(account, first.raw, *fees)
        assert second.nonce == first.nonce and second.tx_hash != first.tx_hash
        assert chain.broadcast(second.raw) is None
        attempts = [second.tx_hash, first.tx_hash]
        assert chain.finality(attempts, 2).state == FinalityState.UNKNOWN
        anvil.rpc("evm_mine", [])
    finally:
        anvil.rpc("evm_setAutomine", [True])
    mined = chain.finality(attempts, 2)
    assert mined.state == FinalityState.MINED and mined.tx_hash == second.tx_hash  # the replacement won
    anvil.rpc("anvil_reorg", [1, []])  # its block is replaced by an empty one
    assert chain.finality(attempts, 2).state == FinalityState.UNKNOWN
    assert chain.broadcast(second.raw) is None  # sent again after the reorganisation
    anvil.rpc("evm_mine", [])
    anvil.rpc("evm_mine", [])
    final = chain.finality(attempts, 2)
    assert final.state == FinalityState.FINAL and final.tx_hash == second.tx_hash
    assert chain.mined_nonce(account.address) == nonce + 1
