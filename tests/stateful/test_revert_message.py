"""The machines' revert-message fallback (tests/helpers/revert.py, `revert_message`): when brownie's trace request
fails under load the error carries no message; the fallback reads the revert data from the node's call trace of the
same mined transaction and decodes it exactly as brownie does."""

import brownie
import pytest
from brownie.exceptions import VirtualMachineError

from tests.helpers.revert import revert_message, typed_error


def test_a_lost_revert_message_is_read_back_from_the_call_trace(staking, staked_provider):
    with pytest.raises(VirtualMachineError) as caught:
        staking.requestUnstake(0, {"from": staked_provider, "gas": 500_000})
    exc = caught.value
    assert exc.revert_msg == typed_error("ProviderStakingZeroAmount()")
    exc.revert_msg = None  # what brownie reports when its own trace request failed
    assert revert_message(exc) == typed_error("ProviderStakingZeroAmount()")


def test_a_message_brownie_found_is_kept(staking, staked_provider):
    with brownie.reverts(typed_error("ProviderStakingZeroAmount()")):
        staking.requestUnstake(0, {"from": staked_provider, "gas": 500_000})
