"""The index follows a fraud debt (outside review of 2026-12-03): what a fraud report could not slash at once and
is collected later adds to the fraud's slashed and compensation figures, from synthetic events (no chain)."""

from __future__ import annotations

from tests.index.test_leases_apply import CLIENT, PRICE, PROVIDER, T0, Chain, chain, isolation, offer, row

__all__ = ["chain", "isolation"]  # fixtures shared with the lease tests


def test_collected_fraud_debt_adds_to_the_fraud(chain: Chain) -> None:
    offer(chain, gpus=2)
    chain.emit(
        "escrow", "JobCreated", jobId=1, client=CLIENT, provider=PROVIDER, offerId=1, pricePerGpuSecond=PRICE,
        maxGpuSeconds=100, deadline=T0 + 999, acceptBy=T0 + 99, specHash="0x" + "22" * 32, collateral=20,
        gpuCount=1,
    )  # fmt: skip
    chain.emit("escrow", "FraudReported", jobId=1, evidenceHash="0x" + "ee" * 32, slashed=20, compensation=20)
    chain.emit("escrow", "FraudDebtRecorded", jobId=1, provider=PROVIDER, amount=80, providerOwes=80)
    d = row(chain, "disputes", "job_id", 1)
    assert (d["kind"], d["status"], d["slashed"], d["compensation"]) == ("fraud", "upheld", "20", "20")
    chain.emit("escrow", "FraudDebtCollected", jobId=1, provider=PROVIDER, amount=30, remaining=50)
    chain.emit("escrow", "FraudDebtCollected", jobId=1, provider=PROVIDER, amount=50, remaining=0)
    d = row(chain, "disputes", "job_id", 1)
    assert (d["slashed"], d["compensation"]) == ("100", "100")
    # A collection for a job the index never saw changes nothing.
    chain.emit("escrow", "FraudDebtCollected", jobId=7, provider=PROVIDER, amount=5, remaining=0)
    assert row(chain, "disputes", "job_id", 1)["slashed"] == "100"
