"""Views: stakeOf, workerOf, totalSlashedOf, offer, offerCount, jobTerms, minStake, unbondingPeriod, escrow, token."""

import brownie
import pytest

from tests.fixtures.contracts import E18, GPU_COUNT, MIN_STAKE, PRICE, PROVIDER_STAKE, UNBONDING_PERIOD
from tests.helpers.limits import limits

from .conftest import ZERO, stake_of, typed_error


@pytest.fixture(scope="module", autouse=True)
def _offer_one_exists(staked_provider):
    """Every test here starts with `provider` staked, with a worker and offer 1 (4 x H100 at PRICE)."""


def terms_tuple(terms):
    return (terms[0], int(terms[1]), int(terms[2]), int(terms[3]))


def test_wiring(staking, token, escrow):
    assert staking.token() == token
    assert staking.escrow() == escrow
    assert staking.minStake() == MIN_STAKE
    assert staking.unbondingPeriod() == UNBONDING_PERIOD


def test_unknown_provider_reads_as_empty(staking, rando):
    assert stake_of(staking, rando) == (0, 0, 0, False)
    assert staking.workerOf(rando) == ZERO
    assert staking.totalSlashedOf(rando) == 0


def test_staked_provider_reads(staking, staked_provider, worker):
    assert stake_of(staking, staked_provider) == (PROVIDER_STAKE, 0, 0, False)
    assert staking.workerOf(staked_provider) == worker
    assert staking.totalSlashedOf(staked_provider) == 0


def test_settlement_context_matches_settlement_view(staking, staked_provider, worker, rando):
    worker_key, bonded = staking.settlementContext(staked_provider)
    assert (worker_key, int(bonded)) == (worker.address, PROVIDER_STAKE)
    assert tuple(staking.settlementContext(staked_provider)) == tuple(staking.settlementView(staked_provider))
    worker_key, bonded = staking.settlementContext(rando)
    assert (worker_key, int(bonded)) == (ZERO, 0)


def test_settlement_context_selector_sorts_early(staking):
    # The dispatcher tries selectors in ascending order; settlement's call must stay near the front (README gas).
    selectors = sorted(staking.signatures.values())
    assert selectors.index(staking.signatures["settlementContext"]) <= 1


def test_offer_and_count(staking, staked_provider):
    assert staking.offerCount() == 1
    o = staking.offer(1)
    assert (o["provider"], int(o["pricePerGpuSecond"]), int(o["gpuCount"]), int(o["vramGb"]), o["active"],
            o["gpuModel"], o["metadataURI"]) == (staked_provider, PRICE, GPU_COUNT, 80, True,
                                                 "NVIDIA H100 80GB HBM3", "ipfs://offer")


@pytest.mark.parametrize("offer_id", [0, 2, 2**256 - 1])
def test_unknown_offer_reverts(staking, offer_id):
    with brownie.reverts(typed_error("ProviderStakingUnknownOffer(uint256)", offer_id)):
        staking.offer(offer_id)


# ------------------------------------------------------------------ jobTerms


def test_job_terms(staking, staked_provider):
    assert terms_tuple(staking.jobTerms(1)) == (staked_provider, PRICE, GPU_COUNT, PROVIDER_STAKE)


def test_job_terms_report_current_bond(staking, staked_provider, escrow_signer, treasury):
    staking.requestUnstake(1_000 * E18, {"from": staked_provider})
    staking.slash(staked_provider, 500 * E18, treasury, 0, {"from": escrow_signer})
    assert terms_tuple(staking.jobTerms(1))[3] == PROVIDER_STAKE - 1_500 * E18


@pytest.mark.parametrize("offer_id", [0, 2])
def test_job_terms_unknown_offer_reverts(staking, offer_id):
    with brownie.reverts(typed_error("ProviderStakingUnknownOffer(uint256)", offer_id)):
        staking.jobTerms(offer_id)


def test_job_terms_inactive_offer_reverts(staking, staked_provider):
    staking.withdrawOffer(1, {"from": staked_provider})
    with brownie.reverts(typed_error("ProviderStakingOfferInactive(uint256)", 1)):
        staking.jobTerms(1)


def test_job_terms_jailed_provider_reverts(staking, staked_provider, deployer):
    staking.jail(staked_provider, {"from": deployer})
    with brownie.reverts(typed_error("ProviderStakingJailed(address)", staked_provider)):
        staking.jobTerms(1)


def test_job_terms_below_minimum_after_unstake_reverts(staking, staked_provider):
    staking.requestUnstake(PROVIDER_STAKE - MIN_STAKE + 1, {"from": staked_provider})
    with brownie.reverts(typed_error("ProviderStakingBelowMinimum(address,uint256,uint256)",
                                     staked_provider, MIN_STAKE - 1, MIN_STAKE)):
        staking.jobTerms(1)


def test_job_terms_at_exact_minimum(staking, staked_provider):
    staking.requestUnstake(PROVIDER_STAKE - MIN_STAKE, {"from": staked_provider})
    assert terms_tuple(staking.jobTerms(1))[3] == MIN_STAKE


def test_job_terms_below_minimum_after_slash_reverts(staking, staked_provider, escrow_signer, treasury):
    staking.slash(staked_provider, PROVIDER_STAKE, treasury, 0, {"from": escrow_signer})
    with brownie.reverts(typed_error("ProviderStakingBelowMinimum(address,uint256,uint256)",
                                     staked_provider, 0, MIN_STAKE)):
        staking.jobTerms(1)


def test_job_terms_below_raised_minimum_reverts(staking, staked_provider, deployer):
    staking.setParameter(0, PROVIDER_STAKE + 1, {"from": deployer})
    with brownie.reverts(typed_error("ProviderStakingBelowMinimum(address,uint256,uint256)",
                                     staked_provider, PROVIDER_STAKE, PROVIDER_STAKE + 1)):
        staking.jobTerms(1)


def test_job_terms_without_worker_reverts(staking, token, bonded):
    """provider2 is staked and publishes an offer but never names a worker key."""
    offer_id = staking.addOffer("L40S", 1, 48, PRICE, "", {"from": bonded}).return_value
    with brownie.reverts(typed_error("ProviderStakingNoWorker(address)", bonded)):
        staking.jobTerms(offer_id)
    staking.setWorker(bonded, {"from": bonded})
    assert terms_tuple(staking.jobTerms(offer_id)) == (bonded, PRICE, 1, PROVIDER_STAKE)


def test_job_terms_checks_in_order(staking, staked_provider, deployer, escrow_signer, treasury):
    """Inactive before jailed before below-minimum: each failure names the first rule broken."""
    staking.slash(staked_provider, PROVIDER_STAKE, treasury, 0, {"from": escrow_signer})
    staking.jail(staked_provider, {"from": deployer})
    with brownie.reverts(typed_error("ProviderStakingJailed(address)", staked_provider)):
        staking.jobTerms(1)
    staking.withdrawOffer(1, {"from": staked_provider})
    with brownie.reverts(typed_error("ProviderStakingOfferInactive(uint256)", 1)):
        staking.jobTerms(1)


def test_escrow_refuses_jobs_that_job_terms_refuses(staking, escrow, staked_provider, deployer, client, token):
    """createJob goes through jobTerms, so its revert reaches the client unchanged."""
    staking.jail(staked_provider, {"from": deployer})
    token.approve(escrow, 2**256 - 1, {"from": client})
    with brownie.reverts(typed_error("ProviderStakingJailed(address)", staked_provider)):
        escrow.createJob(1, 3600, brownie.chain.time() + 86400, b"\x00" * 32, *limits(escrow, 1), {"from": client})
