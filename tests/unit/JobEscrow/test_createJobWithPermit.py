"""createJobWithPermit: an EIP-2612 permit signed with eth-account by a throwaway key funds the deposit in the
same call; a front-run (already used) permit is ignored when the allowance suffices."""

import brownie
import pytest
from brownie import chain
from eth_account import Account

from tests.fixtures.contracts import ACCEPT_WINDOW, COLLATERAL_BPS, GPU_COUNT, PRICE, PROVIDER_STAKE
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import BPS, DAY, MAX_U32, OPEN, at, err, expect_event, now, paused

PERMIT_KEY = "0x" + "7e" * 32
OTHER_KEY = "0x" + "7f" * 32
DEPOSIT = 3600 * PRICE


@pytest.fixture(scope="module")
def owner(accounts, deployer, token, funded, staked_provider):
    """A throwaway client that has never approved the escrow."""
    acct = accounts.add(PERMIT_KEY)
    deployer.transfer(acct, "10 ether")
    token.transfer(acct, 100 * DEPOSIT, {"from": deployer})
    return acct


@pytest.fixture(scope="module")
def permit(token):
    def _permit(spender, value, deadline, key=PERMIT_KEY, owner_addr=None, nonce=None):
        owner_addr = owner_addr or Account.from_key(key).address
        nonce = token.nonces(owner_addr) if nonce is None else nonce
        data = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Permit",
            "domain": {"name": token.name(), "version": "1", "chainId": chain.id,
                       "verifyingContract": token.address},
            "message": {"owner": owner_addr, "spender": str(spender), "value": value, "nonce": nonce,
                        "deadline": deadline},
        }
        s = Account.sign_typed_data(key, full_message=data)
        return s.v, s.r.to_bytes(32, "big"), s.s.to_bytes(32, "big")

    return _permit


def create(escrow, owner, sig, permit_deadline, max_gpu_seconds=3600, offer=1, deadline=None):
    v, r, s = sig
    return escrow.createJobWithPermit(offer, max_gpu_seconds, deadline or now() + DAY, SPEC_HASH, *limits(escrow, offer), permit_deadline,
                                      v, r, s, {"from": owner})


def test_permit_funds_the_deposit(escrow, token, owner, permit, staked_provider, snap):
    assert token.allowance(owner, escrow) == 0
    bal = token.balanceOf(owner)
    pd = now() + 3600
    t = now() + 5
    with at(t):
        tx = create(escrow, owner, permit(escrow, DEPOSIT, pd), pd, deadline=t + DAY)
    assert tx.return_value == 1
    expect_event(tx, "Approval", owner=owner, spender=escrow, value=DEPOSIT)
    expect_event(tx, "JobCreated", jobId=1, client=owner, provider=staked_provider, offerId=1, gpuCount=GPU_COUNT,
                 pricePerGpuSecond=PRICE, maxGpuSeconds=3600, deadline=t + DAY, acceptBy=t + ACCEPT_WINDOW,
                 deposit=DEPOSIT, collateral=-(-DEPOSIT * COLLATERAL_BPS // BPS), specHash=SPEC_HASH)
    expect_event(tx, "Transfer", **{"from": owner, "to": escrow, "value": DEPOSIT})
    assert token.nonces(owner) == 1
    assert token.allowance(owner, escrow) == 0
    assert token.balanceOf(owner) == bal - DEPOSIT
    assert token.balanceOf(escrow) == DEPOSIT
    assert escrow.getJob(1)["status"] == OPEN and escrow.getJob(1)["client"] == owner


def test_front_run_permit_is_ignored_when_allowance_suffices(escrow, token, owner, permit, rando):
    pd = now() + 3600
    sig = permit(escrow, DEPOSIT, pd)
    # someone copies the permit from the mempool and submits it first
    token.permit(owner, escrow, DEPOSIT, pd, *sig, {"from": rando})
    assert token.nonces(owner) == 1 and token.allowance(owner, escrow) == DEPOSIT
    tx = create(escrow, owner, sig, pd)
    assert tx.events["JobCreated"]["client"] == owner
    expect_event(tx, "Transfer", **{"from": owner, "to": escrow, "value": DEPOSIT})
    assert token.nonces(owner) == 1
    assert token.allowance(owner, escrow) == 0
    assert escrow.jobCount() == 1


def test_used_permit_without_allowance_reverts(escrow, token, owner, permit, snap):
    pd = now() + 3600
    sig = permit(escrow, DEPOSIT, pd)
    create(escrow, owner, sig, pd)
    before = snap(1)
    bal = token.balanceOf(owner)
    with brownie.reverts(err("ERC20InsufficientAllowance(address,uint256,uint256)", escrow, 0, DEPOSIT)):
        create(escrow, owner, sig, pd)  # the permit was consumed by the first job
    assert snap(1) == before and token.balanceOf(owner) == bal and token.nonces(owner) == 1


def test_expired_permit_without_allowance_reverts(escrow, token, owner, permit, snap):
    t = now() + 10
    sig = permit(escrow, DEPOSIT, t - 1)
    before = snap()
    bal = token.balanceOf(owner)
    with at(t), brownie.reverts(err("ERC20InsufficientAllowance(address,uint256,uint256)", escrow, 0, DEPOSIT)):
        create(escrow, owner, sig, t - 1, deadline=t + DAY)
    assert snap() == before and token.balanceOf(owner) == bal and token.nonces(owner) == 0


def test_expired_permit_with_allowance_still_creates(escrow, token, owner, permit):
    token.approve(escrow, DEPOSIT, {"from": owner})
    t = now() + 10
    sig = permit(escrow, DEPOSIT, t - 1)
    with at(t):
        tx = create(escrow, owner, sig, t - 1, deadline=t + DAY)
    assert tx.events["JobCreated"]["jobId"] == 1
    assert token.nonces(owner) == 0  # the permit itself failed
    assert token.allowance(owner, escrow) == 0


def test_permit_deadline_is_inclusive(escrow, token, owner, permit):
    t = now() + 10
    with at(t):
        tx = create(escrow, owner, permit(escrow, DEPOSIT, t), t, deadline=t + DAY)
    assert tx.events["JobCreated"]["jobId"] == 1 and token.nonces(owner) == 1


@pytest.mark.parametrize("case", ["value_too_small", "value_too_large", "wrong_spender", "wrong_signer",
                                  "wrong_nonce"])
def test_invalid_permit_falls_back_to_allowance(escrow, token, owner, permit, rando, snap, case):
    pd = now() + 3600
    sig = {
        "value_too_small": lambda: permit(escrow, DEPOSIT - 1, pd),
        "value_too_large": lambda: permit(escrow, DEPOSIT + 1, pd),
        "wrong_spender": lambda: permit(rando, DEPOSIT, pd),
        "wrong_signer": lambda: permit(escrow, DEPOSIT, pd, key=OTHER_KEY, owner_addr=owner.address),
        "wrong_nonce": lambda: permit(escrow, DEPOSIT, pd, nonce=1),
    }[case]()
    before = snap()
    with brownie.reverts(err("ERC20InsufficientAllowance(address,uint256,uint256)", escrow, 0, DEPOSIT)):
        create(escrow, owner, sig, pd)
    assert snap() == before and token.nonces(owner) == 0 and token.allowance(owner, escrow) == 0
    # with an allowance in place the same call succeeds
    token.approve(escrow, DEPOSIT, {"from": owner})
    assert create(escrow, owner, sig, pd).events["JobCreated"]["client"] == owner


def test_permit_amount_is_priced_from_the_offer(escrow, token, owner, permit, odd_offer):
    # 1000 GPU-seconds at 7 wei: the permit must be for exactly 7000
    pd = now() + 3600
    tx = create(escrow, owner, permit(escrow, 7000, pd), pd, max_gpu_seconds=1000, offer=odd_offer)
    expect_event(tx, "Transfer", **{"from": owner, "to": escrow, "value": 7000})
    assert token.nonces(owner) == 1


@pytest.mark.parametrize("max_gpu_seconds", [0, MAX_U32 + 1])
def test_rejects_max_gpu_seconds_out_of_range(escrow, token, owner, permit, snap, max_gpu_seconds):
    pd = now() + 3600
    sig = permit(escrow, 0, pd)  # the deposit the call computes for an out-of-range size
    before = snap()
    with brownie.reverts(err("JobEscrowInvalidMaxGpuSeconds(uint256)", max_gpu_seconds)):
        create(escrow, owner, sig, pd, max_gpu_seconds=max_gpu_seconds)
    assert snap() == before and token.nonces(owner) == 0  # the permit is rolled back too


def test_rejects_bad_deadline(escrow, token, owner, permit, snap):
    pd = now() + 3600
    sig = permit(escrow, DEPOSIT, pd)
    t = now() + 10
    before = snap()
    with at(t), brownie.reverts(err("JobEscrowInvalidDeadline(uint256,uint256,uint256)", t, t, t + 365 * DAY)):
        create(escrow, owner, sig, pd, deadline=t)
    assert snap() == before and token.nonces(owner) == 0 and token.allowance(owner, escrow) == 0


def test_rejects_unknown_offer(escrow, token, owner, permit, snap):
    pd = now() + 3600
    before = snap()
    with brownie.reverts(err("ProviderStakingUnknownOffer(uint256)", 42)):
        create(escrow, owner, permit(escrow, DEPOSIT, pd), pd, offer=42)
    assert snap() == before and token.nonces(owner) == 0


def test_rejects_insufficient_free_stake(escrow, token, owner, permit, staked_provider, snap):
    big = 50_000_001
    deposit = big * PRICE
    pd = now() + 3600
    before = snap()
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider,
                             PROVIDER_STAKE, -(-deposit * COLLATERAL_BPS // BPS))):
        create(escrow, owner, permit(escrow, deposit, pd), pd, max_gpu_seconds=big)
    assert snap() == before and token.nonces(owner) == 0


def test_rejected_while_paused(escrow, token, owner, permit, guardian, snap):
    escrow.pause({"from": guardian})
    pd = now() + 3600
    sig = permit(escrow, DEPOSIT, pd)
    before = snap()
    with brownie.reverts(paused()):
        create(escrow, owner, sig, pd)
    assert snap() == before and token.nonces(owner) == 0 and token.allowance(owner, escrow) == 0
    escrow.unpause({"from": guardian})
    assert create(escrow, owner, sig, pd).events["JobCreated"]["jobId"] == 1
