import brownie
import pytest

from tests.fixtures.contracts import PRICE

from .conftest import assert_event, typed_error


@pytest.fixture(scope="module", autouse=True)
def _offer_one_exists(staked_provider):
    """Every test here starts with offer 1 published by `provider`."""


def test_withdraw_deactivates_and_emits(staking, staked_provider):
    tx = staking.withdrawOffer(1, {"from": staked_provider})
    assert_event(tx, "OfferWithdrawn", staking, offerId=1)
    o = staking.offer(1)
    assert o["active"] is False
    # The record stays readable with its terms.
    assert (o["provider"], int(o["pricePerGpuSecond"])) == (staked_provider, PRICE)
    assert staking.offerCount() == 1


def test_withdrawn_offer_takes_no_new_jobs(staking, escrow, staked_provider, client):
    staking.withdrawOffer(1, {"from": staked_provider})
    with brownie.reverts(typed_error("ProviderStakingOfferInactive(uint256)", 1)):
        staking.jobTerms(1)


def test_open_jobs_are_unaffected(staking, escrow, create_job, make_receipt, settle, staked_provider):
    running = create_job(max_gpu_seconds=3600)
    pending = create_job(max_gpu_seconds=3600, accept=False)
    staking.withdrawOffer(1, {"from": staked_provider})

    escrow.acceptJob(pending, {"from": staked_provider})
    tx = settle(make_receipt(running, gpu_seconds=1000))
    assert tx.events["JobSettled"]["jobId"] == running


def test_unknown_offer_reverts(staking, staked_provider):
    for offer_id in (0, 2):
        with brownie.reverts(typed_error("ProviderStakingUnknownOffer(uint256)", offer_id)):
            staking.withdrawOffer(offer_id, {"from": staked_provider})


def test_not_owner_reverts(staking, staked_provider, rando, worker, deployer):
    for caller in (rando, worker, deployer):
        with brownie.reverts(typed_error("ProviderStakingNotOfferOwner(uint256,address,address)",
                                         1, caller, staked_provider)):
            staking.withdrawOffer(1, {"from": caller})
    assert staking.offer(1)["active"] is True


def test_withdraw_twice_reverts(staking, staked_provider):
    staking.withdrawOffer(1, {"from": staked_provider})
    with brownie.reverts(typed_error("ProviderStakingOfferInactive(uint256)", 1)):
        staking.withdrawOffer(1, {"from": staked_provider})


def test_only_that_offer_is_withdrawn(staking, staked_provider):
    staking.addOffer("A100", 1, 40, PRICE, "", {"from": staked_provider})
    staking.withdrawOffer(1, {"from": staked_provider})
    assert staking.offer(2)["active"] is True
    assert staking.jobTerms(2)["provider"] == staked_provider
