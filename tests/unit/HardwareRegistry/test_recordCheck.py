"""HardwareRegistry.recordCheck and its views: what is recorded, the event, and each revert path."""

import brownie
import pytest
from brownie import ZERO_ADDRESS, chain, web3

from tests.helpers.hardware_signing import Check
from tests.helpers.revert import typed_error as err

MAX_AGE = 24 * 3600


def test_records_the_latest_check_and_emits_everything(registry, staked_provider, attest, now, rando, escrow):
    c = Check(1, now(), elapsedMs=1234)
    tx = registry.recordCheck(c.as_tuple(), attest(c), {"from": rando})
    ev = tx.events["HardwareChecked"]
    assert ev["offerId"] == 1 and ev["provider"] == staked_provider
    assert (ev["passed"], ev["gpuCount"], ev["vramGb"], ev["checkedAt"], ev["elapsedMs"]) == (True, 4, 80, c.checkedAt, 1234)
    assert ev["challengeId"] == "0x" + c.challengeId.hex() and ev["resultRoot"] == "0x" + c.resultRoot.hex()
    assert ev["oracleEpoch"] == escrow.oracleSet()[2]
    rec = registry.latestCheck(1)
    assert rec["checkedAt"] == c.checkedAt and rec["passed"] and rec["gpuCount"] == 4 and rec["vramGb"] == 80
    assert registry.isVerified(1, 0)


def test_unchecked_and_failed_offers_are_not_verified(registry, staked_provider, attest, now, rando):
    assert not registry.isVerified(1, 0)
    assert registry.latestCheck(1)["checkedAt"] == 0
    c = Check(1, now(), passed=False)
    registry.recordCheck(c.as_tuple(), attest(c), {"from": rando})
    assert not registry.isVerified(1, 0)
    assert not registry.latestCheck(1)["passed"]


def test_a_newer_failure_replaces_a_pass(registry, staked_provider, attest, now, rando):
    first = Check(1, now() - 10)
    registry.recordCheck(first.as_tuple(), attest(first), {"from": rando})
    assert registry.isVerified(1, 0)
    later = Check(1, now(), passed=False)
    registry.recordCheck(later.as_tuple(), attest(later), {"from": rando})
    assert not registry.isVerified(1, 0)


def test_an_offer_raised_after_its_check_is_not_verified(registry, staking, staked_provider, attest, now, rando):
    c = Check(1, now())
    registry.recordCheck(c.as_tuple(), attest(c), {"from": rando})
    assert registry.isVerified(1, 0)
    staking.updateOffer(1, 8, 80, 10**15, "ipfs://more-gpus", {"from": staked_provider})
    assert not registry.isVerified(1, 0), "8 GPUs claimed, 4 proven"
    staking.updateOffer(1, 2, 80, 10**15, "ipfs://fewer", {"from": staked_provider})
    assert registry.isVerified(1, 0), "fewer GPUs than proven are still covered"
    staking.updateOffer(1, 2, 96, 10**15, "ipfs://more-vram", {"from": staked_provider})
    assert not registry.isVerified(1, 0), "96 GB claimed, 80 GB proven"


def test_max_age_expires_verification(registry, staked_provider, attest, now, rando):
    c = Check(1, now())
    registry.recordCheck(c.as_tuple(), attest(c), {"from": rando})
    chain.sleep(3601)
    chain.mine()
    assert registry.isVerified(1, 0)
    assert registry.isVerified(1, 7200)
    assert not registry.isVerified(1, 3600)


def test_unknown_offer(registry, staked_provider, attest, now, rando):
    for offer_id in (0, 2):
        c = Check(offer_id, now())
        with brownie.reverts(err("HardwareRegistryUnknownOffer(uint256,uint256)", offer_id, 1)):
            registry.recordCheck(c.as_tuple(), attest(c), {"from": rando})


def test_empty_check(registry, staked_provider, attest, now, rando):
    for gpus, vram in ((0, 80), (4, 0)):
        c = Check(1, now(), gpuCount=gpus, vramGb=vram)
        with brownie.reverts(err("HardwareRegistryEmptyCheck(uint256,uint8,uint32)", 1, gpus, vram)):
            registry.recordCheck(c.as_tuple(), attest(c), {"from": rando})


def test_future_and_too_old_checks(registry, staked_provider, attest, now, rando):
    t = now() + 10
    future = Check(1, t + 100)
    with brownie.reverts(err("HardwareRegistryCheckTimeOutOfRange(uint256,uint64,uint256,uint256)", 1, t + 100, t, MAX_AGE)):
        _at(t)
        registry.recordCheck(future.as_tuple(), attest(future), {"from": rando})
    old = Check(1, t)
    with brownie.reverts(err("HardwareRegistryCheckTimeOutOfRange(uint256,uint64,uint256,uint256)", 1, t, t + MAX_AGE + 11, MAX_AGE)):
        _at(t + MAX_AGE + 11)
        registry.recordCheck(old.as_tuple(), attest(old), {"from": rando})
    _at(t + MAX_AGE + 12)
    edge = Check(1, t + 12)
    registry.recordCheck(edge.as_tuple(), attest(edge), {"from": rando})
    assert registry.latestCheck(1)["checkedAt"] == t + 12


def _at(ts):
    """The next transaction is mined at `ts`."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [int(ts)])


def test_views(registry, escrow, staking, hdom):
    assert registry.jobEscrow() == escrow and registry.staking() == staking
    assert registry.MAX_CHECK_AGE() == MAX_AGE
    from eth_account.messages import encode_typed_data
    from eth_utils import keccak

    c = Check(1, 1_700_000_000)
    msg = encode_typed_data(full_message=c.typed_data(7, hdom))
    assert registry.checkDigest(c.as_tuple(), 7) == "0x" + keccak(b"\x19" + msg.version + msg.header + msg.body).hex()


def test_constructor_refuses_zero_addresses(HardwareRegistry, escrow, staking, deployer):
    for args in ((ZERO_ADDRESS, staking), (escrow, ZERO_ADDRESS)):
        with brownie.reverts(err("HardwareRegistryZeroAddress()")):
            HardwareRegistry.deploy(*args, {"from": deployer})


@pytest.mark.parametrize("n", [2, 3])
def test_many_offers_are_independent(registry, staking, staked_provider, attest, now, rando, n):
    for _ in range(n - 1):
        staking.addOffer("NVIDIA L4", 1, 24, 10**14, "ipfs://l4", {"from": staked_provider})
    c = Check(n, now(), gpuCount=1, vramGb=24)
    registry.recordCheck(c.as_tuple(), attest(c), {"from": rando})
    assert registry.isVerified(n, 0) and not registry.isVerified(1, 0)
