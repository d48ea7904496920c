"""Test-only shim for a brownie 1.22 flake: "Tx dropped without known replacement" for a transaction that was mined.

`TransactionReceipt._await_confirmation` refreshes the sender's nonce, then asks for the receipt, and declares
the transaction dropped (status -2) as soon as one receipt lookup comes back empty while the nonce has already
moved past it. Under load a node can answer that one lookup before it has indexed the receipt of a transaction it
has just mined, so a mined transaction is reported as dropped and `Account.transfer` raises TransactionError: this
ended a 5,000-example run of the staking machine. The shim wraps the account-level wait: on that error it polls
for the receipt for a while and, when the transaction was mined, finishes the confirmation normally and returns
the receipt. A transaction that really was dropped still raises after the polling.
"""

from __future__ import annotations

import time

from brownie.exceptions import TransactionError
from brownie.network.account import _PrivateKeyAccount
from brownie.network.transaction import Status
from brownie.network.web3 import web3
from web3.exceptions import TransactionNotFound

DROPPED = "Tx dropped without known replacement"
POLL_SECONDS = 30.0
RETRIES = 5

# brownie's own method, even when this module is imported a second time (under another name, or reloaded) while
# a shim is installed: each shim carries the method it wraps.
_original = getattr(_PrivateKeyAccount._await_confirmation, "shim_of", _PrivateKeyAccount._await_confirmation)


def mined_receipt(txid, timeout=POLL_SECONDS, interval=0.2):
    """The receipt of `txid` once the node has it (None if it never appears within `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            receipt = web3.eth.get_transaction_receipt(txid)
        except TransactionNotFound:
            receipt = None
        if receipt is not None and receipt["blockHash"] is not None:
            return receipt
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def _await_confirmation(self, receipt, required_confs, gas_strategy, gas_iter):
    try:
        return _original(self, receipt, required_confs, gas_strategy, gas_iter)
    except TransactionError as exc:
        if DROPPED not in str(exc):
            raise
        mined = mined_receipt(receipt.txid)
        if mined is None:
            raise
        # It was mined after all: run brownie's own confirmation again; it finds the receipt (a lookup may still
        # miss once more under load, so a few tries).
        for _ in range(RETRIES):
            receipt.status = Status(-1)
            receipt._confirmed.clear()
            receipt._await_confirmation(mined["blockNumber"], required_confs)
            if receipt.status != Status(-2):
                return receipt
            time.sleep(0.2)
        raise


_await_confirmation.shim_of = _original  # type: ignore[attr-defined]


def install():
    """Patch brownie's account wait (idempotent)."""
    _PrivateKeyAccount._await_confirmation = _await_confirmation


def uninstall():
    _PrivateKeyAccount._await_confirmation = _original
