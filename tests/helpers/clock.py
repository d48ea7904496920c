"""The tests' chain clock: every block that a test's assertion depends on gets a timestamp the test chose.

`at(ts)` pins the next block to `ts` (anvil's evm_setNextBlockTimestamp). A helper that sends transactions of its
own inside `at()` (`limits()` growing a full offer) would take that block and leave the test's transaction to the
node's wall clock, so such a helper calls `keep_pin()` after sending: the pin is set again and the test's
transaction is mined at `ts` as well (anvil accepts a block with its parent's timestamp).
"""

from contextlib import contextmanager

from brownie import chain, web3

_pinned: list[int] = []  # the timestamp of the innermost at() still open


def now():
    """Timestamp of the latest block."""
    return web3.eth.get_block("latest")["timestamp"]


def next_block_at(ts):
    """The next block gets timestamp `ts` exactly."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [int(ts)])


@contextmanager
def at(ts):
    """The next transaction of the test is mined in a block with timestamp `ts`."""
    assert ts > now(), "time only moves forward"
    next_block_at(ts)
    _pinned.append(int(ts))
    try:
        yield
    finally:
        _pinned.pop()
        chain._set_time_offset_from_block()


def keep_pin():
    """After a helper's own transactions: pin the next block again to the open at()'s timestamp, if any."""
    if _pinned and now() == _pinned[-1]:
        next_block_at(_pinned[-1])


def warp(ts):
    """Mine an empty block at `ts`, so views and the next receipts see that time."""
    if ts > now():
        next_block_at(ts)
        web3.provider.make_request("evm_mine", [])
        chain._set_time_offset_from_block()
        assert now() == ts
