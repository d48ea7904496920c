"""The index follows a dispute that lapses without a ruling (issue 8, lower finding 1): the job's status becomes
DisputeLapsed and the dispute row says "lapsed", from synthetic events applied in chain order (no chain)."""

from __future__ import annotations

from tests.index.test_leases_apply import CLIENT, PRICE, PROVIDER, T0, Chain, chain, isolation, offer, row

__all__ = ["chain", "isolation"]  # fixtures shared with the lease tests


def test_lapsed_dispute_is_neither_upheld_nor_rejected(chain: Chain) -> None:
    offer(chain, gpus=2)
    chain.emit(
        "escrow", "JobCreated", jobId=1, client=CLIENT, provider=PROVIDER, offerId=1, pricePerGpuSecond=PRICE,
        maxGpuSeconds=100, deadline=T0 + 999, acceptBy=T0 + 99, specHash="0x" + "22" * 32, collateral=0,
        gpuCount=1,
    )  # fmt: skip
    chain.emit("escrow", "JobDisputed", jobId=1, client=CLIENT, bond=10**19, reasonHash="0x" + "01" * 32)
    assert row(chain, "jobs", "job_id", 1)["status"] == "Disputed"
    assert row(chain, "disputes", "job_id", 1)["status"] == "open"
    chain.emit("escrow", "DisputeLapsed", jobId=1, client=CLIENT, bond=10**19, frozen=5)
    assert row(chain, "jobs", "job_id", 1)["status"] == "DisputeLapsed"
    d = row(chain, "disputes", "job_id", 1)
    assert (d["status"], d["slashed"], d["resolved_block"]) == ("lapsed", "0", chain.block)
