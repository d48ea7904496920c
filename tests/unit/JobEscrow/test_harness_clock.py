"""The test clock itself: `at(ts)` must pin the block of the transaction the test sends, even when a helper sends
transactions of its own first.

`limits()` plays the provider and grows a full offer (`updateOffer`) before the client's createJob. That helper
transaction used to take the pinned timestamp, and the createJob then got the node's wall clock: the same second
on a fast machine, a later one on a loaded CI runner (a createJob test failed with the timestamp off by one).
"""

import time

from brownie import web3

from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import DAY, at, now


def test_a_helper_transaction_inside_at_leaves_the_pin_for_the_tests_own(escrow, token, client, staked_provider):
    token.approve(escrow, 2**256 - 1, {"from": client})
    escrow.createJob(1, 10, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})  # the offer is now full
    t = now() + 10
    with at(t):
        blocks = web3.eth.block_number
        args = limits(escrow, 1)
        assert web3.eth.block_number > blocks, "limits() grew no offer: this test no longer tests the pin"
        time.sleep(2.2)  # the wall clock moves on, as it does on a loaded runner
        tx = escrow.createJob(1, 10, t + DAY, SPEC_HASH, *args, {"from": client})
    assert tx.timestamp == t
