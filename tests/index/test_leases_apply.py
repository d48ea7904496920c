"""The index's lease tables and offer capacity, from synthetic events applied in chain order (no chain:
the events are what LEASE_SPEC says LeaseEscrow and ProviderStaking emit)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpusettle.index import queries
from gpusettle.index.apply import apply_event, rewind
from gpusettle.index.apply_leases import runway_end
from gpusettle.index.db import Database
from gpusettle.index.events import IndexedEvent, followed
from gpusettle.index.journal import State
from gpusettle.index.rows import OfferQuery
from gpusettle.index.schema import create

PROVIDER = "0x" + "aa" * 20
CLIENT = "0x" + "cc" * 20
PRICE = 10**12  # per GPU-second
T0 = 1_700_000_000
reserved: dict[int, int] = {}
"""GPUs reserved per offer in the current test (the staking contract's running total)."""


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No brownie chain: these tests apply events to a database directly."""


class Chain:
    """Applies events one block at a time, as the follower does."""

    def __init__(self, db: Database, journal_from: int = 0) -> None:
        self.db = db
        self.block = 0
        self.journal_from = journal_from

    def emit(self, contract: str, name: str, **args: Any) -> None:
        self.block += 1
        ev = IndexedEvent(contract, name, self.block, f"0x{self.block:064x}", 0, f"0x{self.block:064x}", args)
        state = State(self.db, self.journal_from)
        with self.db.transaction():
            state.prefetch_for([ev])
            apply_event(state, ev, T0 + self.block)
            state.flush()
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'last_block'", (str(self.block),))


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    reserved.clear()
    db = Database(tmp_path / "index.db")
    create(db)
    db.execute("INSERT INTO meta (key, value) VALUES ('last_block', '0')")
    yield Chain(db)
    db.close()


def offer(chain: Chain, offer_id: int = 1, gpus: int = 4, model: str = "NVIDIA H100 80GB HBM3") -> None:
    chain.emit(
        "staking", "OfferAdded", offerId=offer_id, provider=PROVIDER, pricePerGpuSecond=PRICE, gpuCount=gpus,
        vramGb=80, gpuModel=model, metadataURI="",
    )  # fmt: skip


def open_lease(
    chain: Chain, lease_id: int, gpus: int, deposit: int, offer_id: int = 1, klass: int = 0
) -> None:
    chain.emit(
        "leases", "LeaseOpened", leaseId=lease_id, client=CLIENT, provider=PROVIDER, offerId=offer_id,
        gpuCount=gpus, ratePerSecond=gpus * PRICE, deposit=deposit, endTime=0, acceptBy=T0 + 3600,
        availabilityClass=klass, noticeSeconds=600 if klass == 1 else 0, specHash="0x" + "11" * 32,
    )  # fmt: skip
    reserved[offer_id] = reserved.get(offer_id, 0) + gpus
    chain.emit(
        "staking",
        "GpusReserved",
        offerId=offer_id,
        escrow="0x" + "ee" * 20,
        count=gpus,
        reserved=reserved[offer_id],
    )


def release(chain: Chain, gpus: int, offer_id: int = 1) -> None:
    """ProviderStaking's GpusReleased, as the escrow's ending of a job or lease emits it."""
    reserved[offer_id] -= gpus
    chain.emit(
        "staking",
        "GpusReleased",
        offerId=offer_id,
        escrow="0x" + "ee" * 20,
        count=gpus,
        reserved=reserved[offer_id],
    )


def row(chain: Chain, table: str, key_column: str, key: Any) -> dict[str, Any]:
    rows = chain.db.query_dicts(f"SELECT * FROM {table} WHERE {key_column} = ?", (key,))
    assert rows, f"no {table} row {key}"
    return rows[0]


def test_lease_life_runway_checkpoints_and_capacity(chain: Chain) -> None:
    offer(chain)
    open_lease(chain, 1, gpus=3, deposit=3 * PRICE * 1000)
    o = row(chain, "offers", "offer_id", 1)
    assert (o["gpus_reserved"], o["gpus_free"], o["leases_running"], o["leases_total"]) == (3, 1, 1, 1)
    assert row(chain, "leases", "lease_id", 1)["status"] == "Open"

    chain.emit(
        "leases", "LeaseAccepted", leaseId=1, provider=PROVIDER, startedAt=T0 + 10, collateral=5 * 10**15
    )
    lease = row(chain, "leases", "lease_id", 1)
    assert lease["status"] == "Running" and lease["runway_end"] == T0 + 10 + 1000
    assert row(chain, "providers", "address", PROVIDER)["locked"] == str(5 * 10**15)

    # 100 s settled: 90 up, 10 down; the runway counts both as covered.
    rate = 3 * PRICE
    chain.emit(
        "leases", "CheckpointSettled", leaseId=1, fromTime=T0 + 10, toTime=T0 + 110, upSeconds=90,
        downSeconds=10, payout=90 * rate * 99 // 100, fee=90 * rate // 100, penalty=0,
    )  # fmt: skip
    lease = row(chain, "leases", "lease_id", 1)
    assert (lease["up_seconds"], lease["down_seconds"], lease["checkpoints"]) == (90, 10, 1)
    assert lease["paid"] == str(90 * rate) and lease["paid_through"] == T0 + 110
    assert lease["runway_end"] == T0 + 10 + 1000  # the runway end does not move with a checkpoint

    chain.emit("leases", "LeaseToppedUp", leaseId=1, by=CLIENT, amount=rate * 500, deposit=rate * 1500)
    assert row(chain, "leases", "lease_id", 1)["runway_end"] == T0 + 10 + 1500

    chain.emit("leases", "LeaseClosed", leaseId=1, by=CLIENT, billingEnd=T0 + 200)
    assert row(chain, "leases", "lease_id", 1)["billing_end"] == T0 + 200
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 1  # held until the final checkpoint

    chain.emit(
        "leases", "CheckpointSettled", leaseId=1, fromTime=T0 + 110, toTime=T0 + 200, upSeconds=40,
        downSeconds=50, payout=40 * rate, fee=0, penalty=7,
    )  # fmt: skip
    refundable = rate * 1500 - 130 * rate
    chain.emit("leases", "LeaseEnded", leaseId=1, billingEnd=T0 + 200, refundable=refundable)
    release(chain, 3)
    lease = row(chain, "leases", "lease_id", 1)
    assert (
        lease["status"] == "Ended" and lease["refundable"] == str(refundable) and lease["runway_end"] is None
    )
    assert lease["penalties"] == "7" and lease["collateral"] == str(5 * 10**15 - 7)
    o = row(chain, "offers", "offer_id", 1)
    assert (o["gpus_reserved"], o["gpus_free"], o["leases_running"]) == (0, 4, 0)

    chain.emit("leases", "LeaseRefundClaimed", leaseId=1, client=CLIENT, amount=refundable)
    chain.emit("leases", "LeaseCollateralReleased", leaseId=1, provider=PROVIDER, amount=5 * 10**15 - 7)
    lease = row(chain, "leases", "lease_id", 1)
    assert lease["refundable"] == "0" and lease["refunded"] == str(refundable) and lease["collateral"] == "0"
    provider = row(chain, "providers", "address", PROVIDER)
    assert provider["locked"] == "0"
    assert provider["earned"] == str(90 * rate * 99 // 100 + 40 * rate)
    assert provider["gpu_seconds_served"] == 130 * 3

    detail = queries.lease(chain.db, 1)
    assert detail is not None and [c.from_time for c in detail.checkpoints] == [T0 + 10, T0 + 110]
    assert [e.name for e in detail.timeline][:2] == ["LeaseOpened", "LeaseAccepted"]
    assert detail.lease.status == "Ended" and detail.lease.client.lower() == CLIENT
    total, mine = queries.leases(chain.db, client=CLIENT)
    assert total == 1 and mine[0].lease_id == 1
    assert queries.stats(chain.db).leases_by_status == {"Ended": 1}


def test_cancel_and_expiry_give_the_gpus_back_and_count_off_once(chain: Chain) -> None:
    offer(chain, gpus=4)
    open_lease(chain, 1, gpus=2, deposit=10**18)
    open_lease(chain, 2, gpus=2, deposit=10**18)
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 0
    chain.emit("leases", "LeaseCancelled", leaseId=1, by=CLIENT, refund=10**18)
    release(chain, 2)
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 2
    assert row(chain, "offers", "offer_id", 1)["leases_running"] == 1
    assert row(chain, "leases", "lease_id", 1)["refunded"] == str(10**18)
    chain.emit("leases", "LeaseAccepted", leaseId=2, provider=PROVIDER, startedAt=T0, collateral=1000)
    chain.emit("leases", "LeaseExpired", leaseId=2, refund=10**18, slashed=400)
    release(chain, 2)
    # A later dispute ruling on the ended lease must not count it off its offer twice.
    chain.emit("leases", "CheckpointDisputed", leaseId=2, client=CLIENT, bond=1, reasonHash="0x" + "00" * 32,
               rulingDeadline=10**6)
    chain.emit("leases", "CheckpointDisputeResolved", leaseId=2, upheld=True, slashed=0, compensation=0)
    o = row(chain, "offers", "offer_id", 1)
    assert (o["gpus_reserved"], o["gpus_free"], o["leases_running"]) == (0, 4, 0)
    assert row(chain, "leases", "lease_id", 2)["status"] == "Ended"
    lease = row(chain, "leases", "lease_id", 2)
    assert lease["slashed"] == "400" and lease["collateral"] == "600"
    assert row(chain, "providers", "address", PROVIDER)["locked"] == "600"


def test_a_lapsed_checkpoint_dispute_puts_the_lease_back_as_it_was(chain: Chain) -> None:
    """A running lease's dispute lapses: Running again, its GPUs still held; an ended lease's: Ended again."""
    offer(chain, gpus=4)
    open_lease(chain, 1, gpus=2, deposit=10**18)
    chain.emit("leases", "LeaseAccepted", leaseId=1, provider=PROVIDER, startedAt=T0, collateral=1000)
    chain.emit("leases", "CheckpointDisputed", leaseId=1, client=CLIENT, bond=5, reasonHash="0x" + "00" * 32,
               rulingDeadline=T0 + 14 * 86_400)  # fmt: skip
    assert row(chain, "leases", "lease_id", 1)["status"] == "Disputed"
    chain.emit("leases", "CheckpointDisputeLapsed", leaseId=1, client=CLIENT, bond=5, frozen=0)
    assert row(chain, "leases", "lease_id", 1)["status"] == "Running"
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 2

    open_lease(chain, 2, gpus=1, deposit=10**18)
    chain.emit("leases", "LeaseAccepted", leaseId=2, provider=PROVIDER, startedAt=T0, collateral=1000)
    chain.emit("leases", "LeaseExpired", leaseId=2, refund=10**18, slashed=0)
    release(chain, 1)
    chain.emit("leases", "CheckpointDisputed", leaseId=2, client=CLIENT, bond=5, reasonHash="0x" + "00" * 32,
               rulingDeadline=T0 + 14 * 86_400)  # fmt: skip
    chain.emit("leases", "CheckpointDisputeLapsed", leaseId=2, client=CLIENT, bond=5, frozen=0)
    assert row(chain, "leases", "lease_id", 2)["status"] == "Ended"
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 2


def test_jobs_and_leases_share_the_offers_gpus(chain: Chain) -> None:
    offer(chain, gpus=8)
    chain.emit(
        "escrow", "JobCreated", jobId=1, client=CLIENT, provider=PROVIDER, offerId=1, pricePerGpuSecond=PRICE,
        maxGpuSeconds=100, deadline=T0 + 999, acceptBy=T0 + 99, specHash="0x" + "22" * 32, collateral=0,
        gpuCount=3,
    )  # fmt: skip
    reserved[1] = 3
    chain.emit("staking", "GpusReserved", offerId=1, escrow="0x" + "ee" * 20, count=3, reserved=3)
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 5
    open_lease(chain, 1, gpus=4, deposit=10**18)
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 1
    chain.emit("escrow", "JobCancelled", jobId=1, refund=100 * PRICE)
    assert row(chain, "jobs", "job_id", 1)["refunded"] == str(100 * PRICE)  # was 0: the deposit came back
    release(chain, 3)
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 4
    assert row(chain, "offers", "offer_id", 1)["jobs_running"] == 0
    # Lowering the offer's GPU count keeps the reservations: free follows.
    chain.emit(
        "staking", "OfferUpdated", offerId=1, pricePerGpuSecond=PRICE, gpuCount=5, vramGb=80, metadataURI=""
    )
    assert row(chain, "offers", "offer_id", 1)["gpus_free"] == 1


def test_market_filters_class_notice_free_and_paused(chain: Chain) -> None:
    offer(chain, 1, gpus=4)  # dedicated
    offer(chain, 2, gpus=4)
    chain.emit(
        "staking",
        "OfferAvailabilitySet",
        offerId=2,
        availabilityClass=1,
        noticeSeconds=600,
        uptimeGuaranteeBps=9900,
    )
    offer(chain, 3, gpus=4)
    chain.emit(
        "staking",
        "OfferAvailabilitySet",
        offerId=3,
        availabilityClass=2,
        noticeSeconds=0,
        uptimeGuaranteeBps=0,
    )
    offer(chain, 4, gpus=2)
    chain.emit("staking", "OfferPaused", offerId=4)
    open_lease(chain, 1, gpus=3, deposit=10**18, offer_id=1)

    def ids(**q: Any) -> list[int]:
        return sorted(o.offer_id for o in queries.search_offers(chain.db, OfferQuery(**q)).offers)

    assert ids() == [1, 2, 3]  # paused offer 4 is hidden
    assert ids(include_inactive=True) == [1, 2, 3, 4]
    assert ids(max_class=0) == [1]
    assert ids(max_class=1) == [1, 2]
    assert ids(max_class=1, min_notice=601) == [1]
    assert ids(max_class=2, min_notice=600) == [1, 2, 3]
    assert ids(min_free=2) == [2, 3]
    got = {o.offer_id: o for o in queries.search_offers(chain.db, OfferQuery()).offers}
    assert got[2].gpu_class == "reclaimable" and got[2].notice_seconds == 600 and got[2].uptime_bps == 9900
    assert got[1].gpus_free == 1 and got[1].leases_running == 1
    chain.emit("staking", "OfferResumed", offerId=4)
    assert ids(min_free=2) == [2, 3, 4]
    stats = queries.stats(chain.db)
    assert stats.gpus_offered == 14 and stats.gpus_free == 11


def test_reorg_rewinds_lease_rows(tmp_path: Path) -> None:
    db = Database(tmp_path / "r.db")
    create(db)
    db.execute("INSERT INTO meta (key, value) VALUES ('last_block', '0')")
    chain = Chain(db, journal_from=0)  # every block journaled
    offer(chain)
    before = {t: sorted(db.query(f"SELECT * FROM {t}"), key=repr) for t in ("offers", "leases", "providers")}
    mark = chain.block
    open_lease(chain, 1, gpus=2, deposit=10**18)
    chain.emit("leases", "LeaseAccepted", leaseId=1, provider=PROVIDER, startedAt=T0, collateral=10)
    chain.emit(
        "leases", "CheckpointSettled", leaseId=1, fromTime=T0, toTime=T0 + 5, upSeconds=5, downSeconds=0,
        payout=5, fee=0, penalty=0,
    )  # fmt: skip
    rewind(db, mark)
    after = {t: sorted(db.query(f"SELECT * FROM {t}"), key=repr) for t in ("offers", "leases", "providers")}
    assert after == before
    assert db.query("SELECT COUNT(*) FROM lease_checkpoints")[0][0] == 0


def test_runway_formula() -> None:
    lease = {"paid_through": 100, "rate": "10", "deposit": "1000", "up_seconds": 20, "down_seconds": 30}
    assert runway_end(lease) == 100 + (1000 - 500) // 10
    assert runway_end({**lease, "paid_through": None}) is None
    assert runway_end({**lease, "deposit": "100"}) == 100  # already past the deposit: ends at paid_through


def test_record_keys_of_the_lease_escrow_map_to_one_contract() -> None:
    got = followed({"token": "0x1", "staking": "0x2", "escrow": "0x3", "lease_escrow": "0x4"})
    assert got == {"staking": "0x2", "escrow": "0x3", "leases": "0x4"}
