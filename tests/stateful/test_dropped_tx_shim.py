"""The dropped-transaction shim (tests/helpers/dropped_tx.py): a mined transaction whose first receipt lookups come
back empty while the nonce has moved on is reported as dropped by brownie itself, and confirmed by the shim."""

import time

import pytest
from brownie import history
from brownie.exceptions import TransactionError
from brownie.network.web3 import web3
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from tests.helpers import dropped_tx


@pytest.fixture
def flaky_receipts(monkeypatch):
    """The node answers the first few receipt lookups of each transaction with "not found", as a loaded node
    may right after mining it."""
    # brownie keeps every transaction of the session; one with the same nonce from before a snapshot revert would
    # be taken as the "known replacement". Start from an empty history so only this test's transaction counts.
    history.clear()
    real = web3.eth.get_transaction_receipt
    misses = {}

    def lookup(txid):
        key = HexBytes(txid).hex()
        misses[key] = misses.get(key, 0) + 1
        if misses[key] <= 3:
            raise TransactionNotFound(f"{txid} not indexed yet")
        return real(txid)

    monkeypatch.setattr(web3.eth, "get_transaction_receipt", lookup)

    # brownie reads the sender's nonce once, right after sending; on a loaded machine anvil may answer before it has
    # mined the transaction, and brownie then waits instead of calling it dropped (a flake of this test in a full
    # run). The node here has always mined what it was sent when it answers: the nonce read waits for that.
    count = web3.eth.get_transaction_count

    def mined_count(address, block_identifier="latest"):
        deadline = time.monotonic() + 10
        while count(address, "latest") < count(address, "pending") and time.monotonic() < deadline:
            time.sleep(0.05)
        return count(address, block_identifier)

    monkeypatch.setattr(web3.eth, "get_transaction_count", mined_count)
    return misses


def test_without_the_shim_a_mined_transaction_is_reported_dropped(accounts, flaky_receipts):
    dropped_tx.uninstall()
    try:
        nonce = accounts[0].nonce
        with pytest.raises(TransactionError, match=dropped_tx.DROPPED):
            accounts[0].transfer(accounts[1], 1)
        assert accounts[0].nonce == nonce + 1  # yet it was mined
    finally:
        dropped_tx.install()


def test_with_the_shim_the_mined_transaction_is_confirmed(accounts, flaky_receipts):
    before = accounts[1].balance()
    # 2 wei, not 1: after the chain is rolled back, the same transfer would have the same hash as the one the other
    # test saw "dropped", and brownie would hand back that receipt object
    tx = accounts[0].transfer(accounts[1], 2)
    assert tx.status == 1
    assert tx.block_number is not None
    assert accounts[1].balance() == before + 2
