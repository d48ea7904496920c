import brownie
import pytest

from tests.fixtures.contracts import E18, MIN_STAKE

from .conftest import MAX_UINT64, assert_event, typed_error

MODEL = "NVIDIA RTX 4090"
URI = "https://example.org/box.json"


@pytest.fixture(scope="module", autouse=True)
def _offer_one_exists(staked_provider):
    """Every test here starts with offer 1 published by `provider`."""


def offer_tuple(staking, offer_id):
    o = staking.offer(offer_id)
    return (o[0], int(o[1]), int(o[2]), int(o[3]), bool(o[4]), o[5], o[6])


def test_add_offer_stores_it_and_emits(staking, bonded):
    tx = staking.addOffer(MODEL, 2, 24, 12345, URI, {"from": bonded})

    assert tx.return_value == 2
    assert_event(tx, "OfferAdded", staking, offerId=2, provider=bonded, gpuModel=MODEL, gpuCount=2, vramGb=24,
                 pricePerGpuSecond=12345, metadataURI=URI)
    assert offer_tuple(staking, 2) == (bonded, 12345, 2, 24, True, MODEL, URI)
    assert staking.offerCount() == 2


def test_offer_ids_increase(staking, bonded, staked_provider):
    first = staking.addOffer(MODEL, 1, 24, 1, URI, {"from": bonded}).return_value
    second = staking.addOffer("A100", 8, 80, 2, "", {"from": staked_provider}).return_value
    assert (first, second) == (2, 3)
    assert staking.offerCount() == 3
    assert staking.offer(3)[0] == staked_provider


def test_extreme_terms_accepted(staking, bonded):
    staking.addOffer("", 255, 2**32 - 1, MAX_UINT64, "", {"from": bonded})
    assert offer_tuple(staking, 2) == (bonded, MAX_UINT64, 255, 2**32 - 1, True, "", "")


def test_zero_gpu_count_reverts(staking, bonded):
    with brownie.reverts(typed_error("ProviderStakingInvalidGpuCount(uint256)", 0)):
        staking.addOffer(MODEL, 0, 24, 12345, URI, {"from": bonded})
    assert staking.offerCount() == 1


def test_zero_price_reverts(staking, bonded):
    with brownie.reverts(typed_error("ProviderStakingInvalidPrice(uint256,uint256)", 0, MAX_UINT64)):
        staking.addOffer(MODEL, 1, 24, 0, URI, {"from": bonded})
    assert staking.offerCount() == 1


def test_unstaked_caller_reverts(staking, rando):
    with brownie.reverts(typed_error("ProviderStakingBelowMinimum(address,uint256,uint256)", rando, 0, MIN_STAKE)):
        staking.addOffer(MODEL, 1, 24, 1, URI, {"from": rando})
    assert staking.offerCount() == 1


def test_stake_just_below_minimum_reverts(staking, token, funded, provider2):
    token.approve(staking, MIN_STAKE, {"from": provider2})
    staking.stake(MIN_STAKE - 1, {"from": provider2})
    with brownie.reverts(typed_error("ProviderStakingBelowMinimum(address,uint256,uint256)",
                                     provider2, MIN_STAKE - 1, MIN_STAKE)):
        staking.addOffer(MODEL, 1, 24, 1, URI, {"from": provider2})

    staking.stake(1, {"from": provider2})
    assert staking.addOffer(MODEL, 1, 24, 1, URI, {"from": provider2}).return_value == 2


def test_unbonding_stake_does_not_count(staking, bonded):
    bonded_amount = staking.stakeOf(bonded)[0]
    staking.requestUnstake(bonded_amount - MIN_STAKE + 1, {"from": bonded})
    with brownie.reverts(typed_error("ProviderStakingBelowMinimum(address,uint256,uint256)",
                                     bonded, MIN_STAKE - 1, MIN_STAKE)):
        staking.addOffer(MODEL, 1, 24, 1, URI, {"from": bonded})


def test_raised_minimum_applies(staking, bonded, deployer):
    bonded_amount = staking.stakeOf(bonded)[0]
    staking.setParameter(0, bonded_amount + E18, {"from": deployer})
    with brownie.reverts(typed_error("ProviderStakingBelowMinimum(address,uint256,uint256)",
                                     bonded, bonded_amount, bonded_amount + E18)):
        staking.addOffer(MODEL, 1, 24, 1, URI, {"from": bonded})


def test_zero_minimum_lets_anyone_publish(staking, rando, deployer):
    staking.setParameter(0, 0, {"from": deployer})
    tx = staking.addOffer(MODEL, 1, 24, 1, URI, {"from": rando})
    assert tx.return_value == 2
    assert staking.offer(2)[0] == rando


def test_terms_are_checked_before_stake(staking, rando):
    with brownie.reverts(typed_error("ProviderStakingInvalidGpuCount(uint256)", 0)):
        staking.addOffer(MODEL, 0, 24, 1, URI, {"from": rando})
