"""Attack: grief a provider with thousands of dust jobs, or with repeated unbonding requests, so that one of its
calls grows past the block gas limit or its stake stays locked.

What stops it (SECURITY.md, "Griefing a provider's stake with dust jobs"): the provider (or its worker) declines an
open job in O(1), anyone cancels it once its acceptance window has passed, collateral is per job and released in
O(1); unbonding is one aggregate entry per provider, so no list grows. Here an attacker contract opens 2,000
one-GPU-second jobs at 1 base unit against one provider (100 per transaction); every call the provider needs is
then measured against the same call made before the attack, and must cost the same gas.
"""

import brownie
import pytest
from brownie import chain, web3

from tests.fixtures.contracts import PROVIDER_STAKE
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import (
    CANCELLED,
    DAY,
    MAX_U256,
    SETTLED,
    attest_r,
    call_as,
    err,
    now,
    receipt_for,
    sign_r,
    warp,
)

DUST_JOBS = 2_000
PER_TX = 100
BLOCK_GAS_LIMIT = 30_000_000
SAME_GAS = 0  # allowed difference in execution gas between the call before and after the attack


def gas(tx):
    """Gas used less the calldata cost, which differs with the job id's non-zero bytes (16 vs 4 gas a byte) and
    nothing else: what is left is what the call did. `tx` is a brownie transaction or a (receipt, calldata) pair."""
    if isinstance(tx, tuple):
        receipt, data = tx
        used = receipt["gasUsed"]
    else:
        data, used = bytes.fromhex(tx.input[2:]), tx.gas_used
    return used - sum(16 if b else 4 for b in data)


def send(contract, fn, *args, sender):
    """Send `contract.fn(*args)` from `sender` with web3 and wait for its receipt; returns (receipt, calldata).

    With thousands of jobs in the chain's state anvil takes longer to mine, and brownie 1.22's confirmation loop
    can then report a transaction as "dropped" while it is being mined (it sees the sender's nonce move before
    the receipt exists). web3's wait_for_transaction_receipt has no such race."""
    addr = str(sender)
    web3.provider.make_request("anvil_impersonateAccount", [addr])  # the worker is a local key, not a node account
    data = bytes.fromhex(getattr(contract, fn).encode_input(*args)[2:])
    tx_hash = web3.eth.send_transaction({"from": addr, "to": contract.address, "data": data, "gas": 2_000_000})
    receipt = web3.eth.wait_for_transaction_receipt(tx_hash)
    chain._set_time_offset_from_block()
    assert receipt["status"] == 1, f"{fn}{args} reverted"
    return receipt, data


@pytest.fixture(scope="module")
def attacker(ContractWallet, token, escrow, deployer, funded):
    w = ContractWallet.deploy({"from": deployer})
    token.transfer(w, 1_000_000, {"from": deployer})  # 1,000,000 base units: far more than 2,000 dust deposits
    call_as(w, token, "approve", escrow, MAX_U256)
    return w


@pytest.fixture(scope="module")
def setting(escrow, staking, token, staked_provider, provider2, dust_offer, attacker, job_at, deployer):
    """Before the attack: the provider has one real running job (so its locked collateral never drops to zero and
    every later measurement sees the same storage transitions), three dust jobs of the attacker (to measure a
    decline by the provider, one by its worker and a late cancel with no crowd), and one unbonding request made
    (so the next one rewrites, not creates, the entry). provider2 is staked the same way with no jobs: the
    control for withdraw."""
    real = job_at()
    deadline = now() + 7 * DAY
    # A fourth dust job stays open as ballast: the dust offer's GPU reservation (issue 11) then never drops to zero,
    # so the early cancel does not earn the storage refund of clearing it, and every cancel costs the same.
    for _ in range(4):
        call_as(attacker, escrow, "createJob", dust_offer, 1, deadline, SPEC_HASH, *limits(escrow, dust_offer))
    first_dust = escrow.jobCount() - 3
    staking.requestUnstake(10**18, {"from": staked_provider})
    token.approve(staking, PROVIDER_STAKE, {"from": provider2})
    staking.stake(PROVIDER_STAKE, {"from": provider2})
    return {"real": real, "early_decline": first_dust, "early_worker_decline": first_dust + 1,
            "early_cancel": first_dust + 2, "deadline": deadline}


def spam(escrow, attacker, dust_offers, deadline):
    """DUST_JOBS one-GPU-second jobs at 1 base unit, PER_TX per transaction, spread over `dust_offers` (capacity:
    each dust job holds one of its offer's GPUs, so the crowd needs offers with that many); returns their ids and
    the gas used.

    Sent with web3 and awaited by receipt: brownie 1.22 can report a long-running transaction on anvil as
    "dropped" while it is still being mined."""
    first = escrow.jobCount() + 1
    per_offer = DUST_JOBS // len(dust_offers) // PER_TX
    sender = str(brownie.accounts[3])
    used = []
    for k in range(DUST_JOBS // PER_TX):
        offer = dust_offers[k // per_offer]
        data = attacker.execRepeat.encode_input(
            escrow, escrow.createJob.encode_input(offer, 1, deadline, SPEC_HASH, 1, 1), PER_TX)
        tx_hash = web3.eth.send_transaction({"from": sender, "to": attacker.address, "data": data,
                                             "gas": BLOCK_GAS_LIMIT - 1_000_000})
        receipt = web3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        used.append(receipt["gasUsed"])
    chain._set_time_offset_from_block()
    ids = list(range(first, escrow.jobCount() + 1))
    assert len(ids) == DUST_JOBS
    return ids, used


def test_dust_jobs_cannot_lock_the_stake_or_grow_the_providers_calls(escrow, staking, token, staked_provider,
                                                                     provider2, worker, worker_key, oracle_key, rando,
                                                                     attacker, dust_offer, setting):
    # Measurements with no crowd.
    gas_before = {
        staked_provider: gas(escrow.cancelJob(setting["early_decline"], {"from": staked_provider})),
        worker: gas(escrow.cancelJob(setting["early_worker_decline"], {"from": worker})),
        "requestUnstake": gas(staking.requestUnstake(10**18, {"from": staked_provider})),
    }
    locked_before = escrow.providerRecord(staked_provider)["lockedCollateral"]

    # Capacity (issue 11): a dust job holds one GPU, so the crowd needs GPUs; the provider offers 10 x 200.
    crowd = [staking.addOffer("RTX 3060", 200, 12, 1, "ipfs://dust", {"from": staked_provider}).events["OfferAdded"][
        "offerId"] for _ in range(DUST_JOBS // 200)]
    ids, spam_gas = spam(escrow, attacker, crowd, setting["deadline"])
    assert max(spam_gas) < BLOCK_GAS_LIMIT
    # Each dust job locks collateral rounded up to 1 base unit: 2,000 units of a 10,000-token stake.
    locked = escrow.providerRecord(staked_provider)["lockedCollateral"]
    assert locked == locked_before + DUST_JOBS

    # The provider declines any of them, first, middle or last, for the same gas as before the attack.
    for job_id, who in ((ids[0], staked_provider), (ids[DUST_JOBS // 2], worker), (ids[-1], staked_provider)):
        tx = send(escrow, "cancelJob", job_id, sender=who)
        assert abs(gas(tx) - gas_before[who]) <= SAME_GAS, (job_id, gas(tx), gas_before)
        assert escrow.getJob(job_id)["status"] == CANCELLED
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == locked - 3

    # Its free stake is not locked: it may unstake all of it, for the same gas as before.
    bonded = staking.stakeOf(staked_provider)[0]
    free = bonded - escrow.providerRecord(staked_provider)["lockedCollateral"]
    tx = send(staking, "requestUnstake", free, sender=staked_provider)
    assert abs(gas(tx) - gas_before["requestUnstake"]) <= SAME_GAS
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider, 0,
                             1)):
        staking.requestUnstake.call(1, {"from": staked_provider})

    # Once the acceptance window has passed anyone may clear the rest, each in the same O(1) call.
    warp(escrow.getJob(ids[-2])["acceptBy"] + 1)  # the last dust job still open
    cancel_gas = [gas(send(escrow, "cancelJob", j, sender=rando)) for j in
                  (setting["early_cancel"], ids[1], ids[DUST_JOBS // 3], ids[-2])]
    assert max(cancel_gas) - min(cancel_gas) <= SAME_GAS, cancel_gas
    assert max(cancel_gas) < 100_000

    # The provider's real work goes on: its running job settles as usual.
    r = receipt_for(escrow, setting["real"], gpu_seconds=1000)
    receipt, _ = send(escrow, "settle", r.as_tuple(), sign_r(r, worker_key, escrow),
                      attest_r([r], [oracle_key], escrow), sender=rando)
    assert receipt["gasUsed"] < 200_000
    assert escrow.getJob(setting["real"])["status"] == SETTLED


def test_repeated_unbonding_requests_keep_withdraw_constant(escrow, staking, token, staked_provider, provider2,
                                                            setting):
    """One aggregate entry per provider: the 100th request costs what the 2nd does, and withdrawing after 100
    requests costs what withdrawing after one does (provider2, the control)."""
    staking.requestUnstake(10**18, {"from": provider2})
    used = [gas(staking.requestUnstake(1, {"from": staked_provider})) for _ in range(100)]
    assert max(used) - min(used) <= SAME_GAS, (min(used), max(used))
    _bonded, unbonding, release_at, _ = staking.stakeOf(staked_provider)
    assert unbonding == 10**18 + 100
    warp(release_at)
    before = token.balanceOf(staked_provider)
    g_many = gas(staking.withdraw({"from": staked_provider}))
    g_one = gas(staking.withdraw({"from": provider2}))
    assert token.balanceOf(staked_provider) == before + 10**18 + 100
    assert abs(g_many - g_one) <= SAME_GAS, (g_many, g_one)
    assert g_many < 100_000


def test_nobody_else_can_start_the_providers_unbonding_or_cancel_its_jobs_early(escrow, staking, staked_provider,
                                                                                 rando, setting):
    """Unbonding requests only ever move the caller's own stake, and before the acceptance window closes only the
    client or the provider may cancel an open job: a third party cannot reset the provider's release time or
    churn its jobs."""
    before = staking.stakeOf(staked_provider)
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", rando, 0, 10**18)):
        staking.requestUnstake(10**18, {"from": rando})
    job_id = setting["early_cancel"]
    accept_by = escrow.getJob(job_id)["acceptBy"]
    with brownie.reverts(err("JobEscrowCancelNotAllowed(uint256,address,uint256)", job_id, rando, accept_by)):
        escrow.cancelJob(job_id, {"from": rando})
    assert staking.stakeOf(staked_provider) == before
