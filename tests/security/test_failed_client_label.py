"""Attack (found by this stop's outside review; issue 8, lower finding 7): the FailedProvider fix was bypassed by
labelling the same empty run FailedClient. A provider that never ran an accepted job has its worker sign
FailedClient, 0 GPU-seconds: the oracle cannot tell whose code failed, the job settles with nothing paid and no
timeout slash, and even an upheld dispute gave the client nothing (its compensation was capped at what it paid, 0;
the whole slash went to the treasury).

What must hold (docs/PROTOCOL.md, disputes): an upheld ruling makes the client whole for what it paid and never gives
it less than the provider's silence would have (the job's timeout slash: collateral x timeoutSlashBps), so lying
about whose run failed costs the provider more than the timeout it dodged. A client whose own code failed gains
nothing from disputing: the arbiter rejects, the bond goes to the provider.
"""

from tests.fixtures.contracts import DISPUTE_BOND, PRICE, TIMEOUT_GRACE
from tests.helpers.signing import FAILED_CLIENT

from .conftest import at, fork, receipt_for, warp
from .test_failed_provider_receipt import open_job, settle_one, timeout_slash_of

MAX_GS = 1_000_000


def empty_failed_client_run(escrow, token, client, provider, sign, attest, rando):
    job = open_job(escrow, token, client, MAX_GS, provider)
    j = escrow.getJob(job).dict()
    warp(j["acceptedAt"] + 60)
    r = receipt_for(escrow, job, gpu_seconds=0, outcome=FAILED_CLIENT, start=j["acceptedAt"], end=j["acceptedAt"],
                    advance=False)  # fmt: skip
    settle_one(escrow, r, sign, attest, rando)
    return job


def test_an_upheld_dispute_of_an_empty_failed_client_run_pays_at_least_the_timeout_slash(
    escrow, token, staked_provider, client, rando, sign, attest, arbiter
):
    job = open_job(escrow, token, client, MAX_GS, staked_provider)
    with fork(), at(escrow.getJob(job)["deadline"] + TIMEOUT_GRACE):
        timeout_slash = escrow.claimTimeout(job, {"from": client}).events["JobTimedOut"]["slashed"]
    assert timeout_slash == timeout_slash_of(MAX_GS) > 0
    j = escrow.getJob(job).dict()
    warp(j["acceptedAt"] + 60)
    r = receipt_for(escrow, job, gpu_seconds=0, outcome=FAILED_CLIENT, start=j["acceptedAt"], end=j["acceptedAt"],
                    advance=False)  # fmt: skip
    before = token.balanceOf(client)
    settle_one(escrow, r, sign, attest, rando)
    escrow.claimRefunds([job], {"from": client})
    escrow.dispute(job, b"\x01" * 32, {"from": client})
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    ev = tx.events["DisputeResolved"]
    # Before the fix: compensation 0, the client got its deposit back and nothing for the provider's lie.
    assert ev["compensation"] == timeout_slash <= ev["slashed"]
    assert token.balanceOf(client) - before == MAX_GS * PRICE + timeout_slash


def test_a_client_whose_own_code_failed_gains_nothing_by_disputing(
    escrow, token, staked_provider, client, rando, sign, attest, arbiter
):
    job = empty_failed_client_run(escrow, token, client, staked_provider, sign, attest, rando)
    before_client, before_provider = token.balanceOf(client), token.balanceOf(staked_provider)
    escrow.dispute(job, b"\x02" * 32, {"from": client})
    tx = escrow.resolveDispute(job, False, {"from": arbiter})
    assert (tx.events["DisputeResolved"]["slashed"], tx.events["DisputeResolved"]["compensation"]) == (0, 0)
    assert token.balanceOf(client) == before_client - DISPUTE_BOND
    assert token.balanceOf(staked_provider) == before_provider + DISPUTE_BOND
