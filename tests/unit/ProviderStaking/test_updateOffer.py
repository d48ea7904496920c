import brownie
import pytest

from tests.fixtures.contracts import GPU_COUNT, PRICE

from .conftest import MAX_UINT64, assert_event, typed_error

MODEL = "NVIDIA H100 80GB HBM3"


@pytest.fixture(scope="module", autouse=True)
def _offer_one_exists(staked_provider):
    """Every test here starts with offer 1 (4 x H100, PRICE) published by `provider`."""


def offer_tuple(staking, offer_id):
    o = staking.offer(offer_id)
    return (o[0], int(o[1]), int(o[2]), int(o[3]), bool(o[4]), o[5], o[6])


def test_update_changes_terms_and_emits(staking, staked_provider):
    tx = staking.updateOffer(1, 8, 96, 2 * PRICE, "ipfs://v2", {"from": staked_provider})

    assert_event(tx, "OfferUpdated", staking, offerId=1, gpuCount=8, vramGb=96, pricePerGpuSecond=2 * PRICE,
                 metadataURI="ipfs://v2")
    # Owner, model and the active flag never change.
    assert offer_tuple(staking, 1) == (staked_provider, 2 * PRICE, 8, 96, True, MODEL, "ipfs://v2")
    assert staking.offerCount() == 1


def test_update_reaches_new_jobs(staking, staked_provider):
    staking.updateOffer(1, 2, 80, 3 * PRICE, "ipfs://offer", {"from": staked_provider})
    terms = staking.jobTerms(1)
    assert (int(terms[1]), int(terms[2])) == (3 * PRICE, 2)


def test_open_job_keeps_its_locked_price(staking, escrow, create_job, staked_provider):
    job_id = create_job(max_gpu_seconds=3600)
    # The job holds all GPU_COUNT GPUs, so the count cannot drop below them (issue 11); the price can change.
    staking.updateOffer(1, GPU_COUNT, 80, 5 * PRICE, "ipfs://offer", {"from": staked_provider})
    job = escrow.getJob(job_id).dict()
    assert job["pricePerGpuSecond"] == PRICE
    assert job["gpuCount"] == GPU_COUNT


def test_unknown_offer_reverts(staking, staked_provider):
    for offer_id in (0, 2, 2**256 - 1):
        with brownie.reverts(typed_error("ProviderStakingUnknownOffer(uint256)", offer_id)):
            staking.updateOffer(offer_id, 1, 1, 1, "", {"from": staked_provider})


def test_not_owner_reverts(staking, staked_provider, rando, deployer):
    for caller in (rando, deployer):
        with brownie.reverts(typed_error("ProviderStakingNotOfferOwner(uint256,address,address)",
                                         1, caller, staked_provider)):
            staking.updateOffer(1, 1, 1, 1, "x", {"from": caller})
    assert offer_tuple(staking, 1) == (staked_provider, PRICE, GPU_COUNT, 80, True, MODEL, "ipfs://offer")


def test_worker_key_is_not_the_owner(staking, staked_provider, worker):
    with brownie.reverts(typed_error("ProviderStakingNotOfferOwner(uint256,address,address)",
                                     1, worker, staked_provider)):
        staking.updateOffer(1, 1, 1, 1, "x", {"from": worker})


def test_withdrawn_offer_reverts(staking, staked_provider):
    staking.withdrawOffer(1, {"from": staked_provider})
    with brownie.reverts(typed_error("ProviderStakingOfferInactive(uint256)", 1)):
        staking.updateOffer(1, 1, 1, 1, "x", {"from": staked_provider})
    assert offer_tuple(staking, 1)[1:5] == (PRICE, GPU_COUNT, 80, False)


def test_zero_gpu_count_reverts(staking, staked_provider):
    with brownie.reverts(typed_error("ProviderStakingInvalidGpuCount(uint256)", 0)):
        staking.updateOffer(1, 0, 80, PRICE, "x", {"from": staked_provider})
    assert offer_tuple(staking, 1)[2] == GPU_COUNT


def test_zero_price_reverts(staking, staked_provider):
    with brownie.reverts(typed_error("ProviderStakingInvalidPrice(uint256,uint256)", 0, MAX_UINT64)):
        staking.updateOffer(1, 1, 80, 0, "x", {"from": staked_provider})
    assert offer_tuple(staking, 1)[1] == PRICE


def test_ownership_is_checked_before_terms(staking, staked_provider, rando):
    with brownie.reverts(typed_error("ProviderStakingNotOfferOwner(uint256,address,address)",
                                     1, rando, staked_provider)):
        staking.updateOffer(1, 0, 80, 0, "x", {"from": rando})
