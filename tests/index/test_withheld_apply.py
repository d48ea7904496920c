"""Withheld pay in the index (schema 4), from synthetic events applied in chain order (no chain): pay an escrow holds
back for a ruling is shown on the job, the lease and the provider, is not in the provider's `earned` until released,
and what an upheld ruling takes of it never is. A reorganisation rewinds it like any other column."""

from __future__ import annotations

from gpusettle.index import queries
from tests.index.test_leases_apply import (
    CLIENT,
    PRICE,
    PROVIDER,
    T0,
    Chain,
    chain,
    isolation,
    offer,
    open_lease,
    row,
)

__all__ = ["chain", "isolation"]  # fixtures shared with the lease tests


def _provider(chain: Chain) -> tuple[int, int]:
    p = row(chain, "providers", "address", PROVIDER)
    return int(p["earned"]), int(p["withheld"])


def test_a_jobs_withheld_pay_is_earned_when_released_and_not_when_a_ruling_takes_it(chain: Chain) -> None:
    offer(chain, gpus=2)
    for job_id in (1, 2):
        chain.emit(
            "escrow", "JobCreated", jobId=job_id, client=CLIENT, provider=PROVIDER, offerId=1,
            pricePerGpuSecond=PRICE, maxGpuSeconds=1000, deadline=T0 + 9999, acceptBy=T0 + 99,
            specHash="0x" + "22" * 32, collateral=200 * PRICE, gpuCount=1,
        )  # fmt: skip
        chain.emit("escrow", "JobAccepted", jobId=job_id, provider=PROVIDER, acceptedAt=T0 + 5)
        chain.emit(
            "escrow", "PayWithheld", jobId=job_id, provider=PROVIDER, amount=100 * PRICE, until=T0 + 86400
        )
        chain.emit(
            "escrow", "JobSettled", jobId=job_id, gpuSeconds=1000, payout=975 * PRICE, fee=25 * PRICE, outcome=0,
            reserve=900 * PRICE,
        )  # fmt: skip
    assert _provider(chain) == (2 * 875 * PRICE, 200 * PRICE)
    assert row(chain, "jobs", "job_id", 1)["withheld"] == str(100 * PRICE)

    # Job 1: its window closes; the withheld pay is credited.
    chain.emit("escrow", "WithheldPayReleased", jobId=1, provider=PROVIDER, amount=100 * PRICE)
    assert row(chain, "jobs", "job_id", 1)["withheld"] == "0"
    assert _provider(chain) == (875 * PRICE + 975 * PRICE, 100 * PRICE)

    # Job 2: disputed and upheld; the ruling takes 60 of its 100, the 40 left is released just before.
    chain.emit("escrow", "JobDisputed", jobId=2, client=CLIENT, bond=10**19, reasonHash="0x" + "01" * 32)
    chain.emit("escrow", "WithheldPayReleased", jobId=2, provider=PROVIDER, amount=40 * PRICE)
    chain.emit(
        "escrow", "DisputeResolved", jobId=2, upheld=True, slashed=960 * PRICE, compensation=960 * PRICE
    )
    assert row(chain, "jobs", "job_id", 2)["withheld"] == "0"
    assert _provider(chain) == (875 * PRICE + 975 * PRICE + 40 * PRICE, 0)

    job = queries.job(chain.db, 1)
    assert job is not None and job.job.withheld == "0"
    assert queries.provider(chain.db, PROVIDER) is not None


def test_a_leases_withheld_pay_catches_up_and_shows_on_the_lease(chain: Chain) -> None:
    offer(chain)
    open_lease(chain, 1, gpus=1, deposit=PRICE * 100_000)
    chain.emit(
        "leases", "LeaseAccepted", leaseId=1, provider=PROVIDER, startedAt=T0 + 10, collateral=3600 * PRICE
    )
    chain.emit(
        "leases",
        "LeasePayWithheld",
        leaseId=1,
        provider=PROVIDER,
        amount=975 * PRICE,
        unreserved=1000 * PRICE,
    )
    chain.emit(
        "leases", "CheckpointSettled", leaseId=1, fromTime=T0 + 10, toTime=T0 + 1010, upSeconds=1000,
        downSeconds=0, payout=975 * PRICE, fee=25 * PRICE, penalty=0,
    )  # fmt: skip
    assert _provider(chain) == (0, 975 * PRICE)
    found = queries.leases(chain.db, provider=PROVIDER)[1]
    assert [x.withheld for x in found] == [str(975 * PRICE)]

    # A later checkpoint finds free stake: it releases part of the withheld pay.
    chain.emit("leases", "LeaseWithheldPayReleased", leaseId=1, provider=PROVIDER, amount=500 * PRICE)
    chain.emit(
        "leases", "CheckpointSettled", leaseId=1, fromTime=T0 + 1010, toTime=T0 + 2010, upSeconds=1000,
        downSeconds=0, payout=975 * PRICE, fee=25 * PRICE, penalty=0,
    )  # fmt: skip
    assert _provider(chain) == (500 * PRICE + 975 * PRICE, 475 * PRICE)
    assert row(chain, "leases", "lease_id", 1)["withheld"] == str(475 * PRICE)

    # Disputed and upheld: the ruling takes what is left (nothing is released first here).
    chain.emit(
        "leases",
        "CheckpointDisputed",
        leaseId=1,
        client=CLIENT,
        bond=10**19,
        reasonHash="0x" + "02" * 32,
        rulingDeadline=T0 + 99_999,
    )
    chain.emit(
        "leases",
        "CheckpointDisputeResolved",
        leaseId=1,
        upheld=True,
        slashed=2000 * PRICE,
        compensation=2000 * PRICE,
    )
    assert row(chain, "leases", "lease_id", 1)["withheld"] == "0"
    assert _provider(chain) == (500 * PRICE + 975 * PRICE, 0)
    shown = queries.provider(chain.db, PROVIDER)
    assert shown is not None and shown.provider.withheld == "0"
