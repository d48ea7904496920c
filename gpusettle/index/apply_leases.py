"""What LeaseEscrow's events do to the index: the `leases` and `lease_checkpoints` tables, the offer's
reserved GPUs, and the provider's locked collateral and earnings.

Like `apply`, everything comes from the events and rows built from earlier events (no eth_call). The
runway end is the contract's formula: paidThrough + (deposit - (up + down) x rate) / rate while the lease
runs (down time is refunded at the end, so it counts as covered here too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..availability import class_name
from .apply import HANDLERS, _add, _provider_row, _total, _unlock, drop_withheld, hold_pay, release_pay
from .events import IndexedEvent
from .journal import State

__all__ = ["LEASE_HANDLERS", "runway_end"]

LIVE = ("Open", "Running", "Disputed")
"""Lease states that hold GPUs of the offer."""


def runway_end(row: dict[str, Any]) -> int | None:
    """When the deposit not yet covered by a checkpoint runs out (None before acceptance)."""
    if row.get("paid_through") is None:
        return None
    rate = int(row["rate"])
    if rate == 0:
        return None
    covered = (int(row["up_seconds"]) + int(row["down_seconds"])) * rate
    return int(row["paid_through"]) + max(0, int(row["deposit"]) - covered) // rate


def _runway(row: dict[str, Any]) -> None:
    row["runway_end"] = runway_end(row)


def _release(s: State, row: dict[str, Any]) -> None:
    """Count the lease off its offer, once (when it leaves a live state). Its GPUs come back through
    ProviderStaking's GpusReleased, which carries the offer's reserved total."""
    if row["status"] not in LIVE or row["ended_time"] is not None:
        return
    offer = s.get("offers", row["offer_id"])
    if offer is not None:
        offer["leases_running"] = max(0, int(offer.get("leases_running") or 0) - 1)
        s.put("offers", offer["offer_id"], offer)


def _lease(s: State, ev: IndexedEvent) -> dict[str, Any] | None:
    return s.get("leases", ev.args["leaseId"])


def _opened(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    s.put(
        "leases",
        a["leaseId"],
        {
            "lease_id": a["leaseId"],
            "client": a["client"],
            "provider": a["provider"],
            "offer_id": a["offerId"],
            "gpu_count": a["gpuCount"],
            "rate": str(a["ratePerSecond"]),
            "deposit": str(a["deposit"]),
            "end_time": a["endTime"],
            "accept_by": a["acceptBy"],
            "gpu_class": class_name(int(a["availabilityClass"])),
            "notice_seconds": a["noticeSeconds"],
            "spec_hash": a["specHash"],
            "status": "Open",
            "created_block": ev.block_number,
            "created_time": t,
            "created_tx": ev.tx_hash,
            "started_at": None,
            "collateral": "0",
            "billing_end": None,
            "paid_through": None,
            "runway_end": None,
            "up_seconds": 0,
            "down_seconds": 0,
            "checkpoints": 0,
            "paid": "0",
            "fees": "0",
            "penalties": "0",
            "refundable": "0",
            "refunded": "0",
            "slashed": "0",
            "ended_time": None,
            "reclaimed": 0,
            "withheld": "0",
        },
    )
    offer = s.get("offers", a["offerId"])
    if offer is not None:
        offer["leases_running"] = int(offer.get("leases_running") or 0) + 1
        offer["leases_total"] = int(offer.get("leases_total") or 0) + 1
        s.put("offers", offer["offer_id"], offer)
    with _provider_row(s, a["provider"], ev, t):
        pass  # a provider first seen through a lease still gets its row


def _accepted(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    row["status"] = "Running"
    row["started_at"] = ev.args["startedAt"]
    row["paid_through"] = ev.args["startedAt"]
    row["collateral"] = str(ev.args["collateral"])
    _runway(row)
    s.put("leases", row["lease_id"], row)
    with _provider_row(s, row["provider"], ev, t) as provider:
        _add(provider, "locked", ev.args["collateral"])


def _cancelled(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    _release(s, row)
    row["status"] = "Cancelled"
    row["ended_time"] = t
    _add(row, "refunded", int(ev.args.get("refund", 0)))
    s.put("leases", row["lease_id"], row)


def _topped_up(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    row["deposit"] = str(ev.args["deposit"])
    _runway(row)
    s.put("leases", row["lease_id"], row)


def _billing_end(reclaimed: int) -> Callable[[State, IndexedEvent, int], None]:
    def handler(s: State, ev: IndexedEvent, t: int) -> None:
        row = _lease(s, ev)
        if row is None:
            return
        row["billing_end"] = ev.args["billingEnd"]
        row["reclaimed"] = max(int(row["reclaimed"]), reclaimed)
        s.put("leases", row["lease_id"], row)

    return handler


def _checkpoint(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    row = _lease(s, ev)
    if row is None:
        return
    payout, fee, penalty = int(a["payout"]), int(a["fee"]), int(a["penalty"])
    up, down = int(a["upSeconds"]), int(a["downSeconds"])
    s.put(
        "lease_checkpoints",
        f"{a['leaseId']}:{a['fromTime']}",
        {
            "id": f"{a['leaseId']}:{a['fromTime']}",
            "lease_id": a["leaseId"],
            "from_time": a["fromTime"],
            "to_time": a["toTime"],
            "up_seconds": up,
            "down_seconds": down,
            "payout": str(payout),
            "fee": str(fee),
            "penalty": str(penalty),
            "block_number": ev.block_number,
            "time": t,
            "tx_hash": ev.tx_hash,
        },
    )
    row["up_seconds"] = int(row["up_seconds"]) + up
    row["down_seconds"] = int(row["down_seconds"]) + down
    row["checkpoints"] = int(row["checkpoints"]) + 1
    row["paid_through"] = a["toTime"]
    _add(row, "paid", payout + fee)
    _add(row, "fees", fee)
    _add(row, "penalties", penalty)
    # The penalty comes out of the lease's collateral (ProviderStaking emits the Slashed of the stake).
    row["collateral"] = str(max(0, int(row["collateral"]) - penalty))
    _runway(row)
    s.put("leases", row["lease_id"], row)
    gpu_seconds = up * int(row["gpu_count"])
    _total(s, "value_settled", payout)
    _total(s, "fees", fee)
    _total(s, "gpu_seconds", gpu_seconds)
    with _provider_row(s, row["provider"], ev, t) as provider:
        provider["gpu_seconds_served"] += gpu_seconds
        _add(provider, "earned", payout)
        provider["earned_num"] = float(provider["earned"])
        if penalty:
            provider["locked"] = str(max(0, int(provider["locked"]) - penalty))


def _ended(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    _release(s, row)
    row["status"] = "Ended"
    row["billing_end"] = ev.args["billingEnd"]
    row["refundable"] = str(ev.args["refundable"])
    row["ended_time"] = t
    row["runway_end"] = None
    s.put("leases", row["lease_id"], row)


def _expired(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    _release(s, row)
    slashed = int(ev.args["slashed"])
    row["status"] = "Ended"
    row["ended_time"] = t
    row["runway_end"] = None
    _add(row, "refunded", int(ev.args["refund"]))
    _add(row, "slashed", slashed)
    row["collateral"] = str(max(0, int(row["collateral"]) - slashed))
    s.put("leases", row["lease_id"], row)
    with _provider_row(s, row["provider"], ev, t) as provider:
        provider["locked"] = str(max(0, int(provider["locked"]) - slashed))


def _refund_claimed(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    amount = int(ev.args["amount"])
    _add(row, "refunded", amount)
    row["refundable"] = str(max(0, int(row["refundable"]) - amount))
    s.put("leases", row["lease_id"], row)


def _collateral_released(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    amount = int(ev.args["amount"])
    if row is not None:
        row["collateral"] = str(max(0, int(row["collateral"]) - amount))
        s.put("leases", row["lease_id"], row)
    _unlock(s, ev.args["provider"], amount, ev, t)


def _disputed(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    row["status"] = "Disputed"
    s.put("leases", row["lease_id"], row)


def _dispute_resolved(s: State, ev: IndexedEvent, t: int) -> None:
    row = _lease(s, ev)
    if row is None:
        return
    upheld = bool(ev.args["upheld"])
    if upheld:
        # An upheld dispute ends the lease (ILeaseEscrow.LeaseStatus.Ended).
        _release(s, row)
        row["status"] = "Ended"
        row["ended_time"] = row["ended_time"] or t
        row["runway_end"] = None
        _add(row, "slashed", int(ev.args["slashed"]))
        row["collateral"] = str(max(0, int(row["collateral"]) - int(ev.args["slashed"])))
        with _provider_row(s, row["provider"], ev, t) as provider:
            provider["disputes_lost"] += 1
            provider["locked"] = str(max(0, int(provider["locked"]) - int(ev.args["slashed"])))
        drop_withheld(s, "leases", row, ev, t)
    else:
        row["status"] = "Ended" if row["ended_time"] else "Running"
    s.put("leases", row["lease_id"], row)


def _dispute_lapsed(s: State, ev: IndexedEvent, t: int) -> None:
    """No ruling by the deadline: the lease is as it was before the dispute (ILeaseEscrow)."""
    row = _lease(s, ev)
    if row is None:
        return
    row["status"] = "Ended" if row["ended_time"] else "Running"
    s.put("leases", row["lease_id"], row)


def _earnings_withdrawn(s: State, ev: IndexedEvent, t: int) -> None:
    with _provider_row(s, ev.args["provider"], ev, t) as row:
        _add(row, "withdrawn", ev.args["amount"])


def _pay_withheld(s: State, ev: IndexedEvent, t: int) -> None:
    hold_pay(s, "leases", "leaseId", ev, t)


def _withheld_pay_released(s: State, ev: IndexedEvent, t: int) -> None:
    release_pay(s, "leases", "leaseId", ev, t)


LEASE_HANDLERS: dict[tuple[str, str], Callable[[State, IndexedEvent, int], None]] = {
    ("leases", "LeaseOpened"): _opened,
    ("leases", "LeaseAccepted"): _accepted,
    ("leases", "LeaseCancelled"): _cancelled,
    ("leases", "LeaseToppedUp"): _topped_up,
    ("leases", "LeaseClosed"): _billing_end(0),
    ("leases", "LeaseReclaimed"): _billing_end(1),
    ("leases", "CheckpointSettled"): _checkpoint,
    ("leases", "LeaseEnded"): _ended,
    ("leases", "LeaseExpired"): _expired,
    ("leases", "LeaseRefundClaimed"): _refund_claimed,
    ("leases", "LeaseCollateralReleased"): _collateral_released,
    ("leases", "CheckpointDisputed"): _disputed,
    ("leases", "CheckpointDisputeResolved"): _dispute_resolved,
    ("leases", "CheckpointDisputeLapsed"): _dispute_lapsed,
    ("leases", "EarningsWithdrawn"): _earnings_withdrawn,
    ("leases", "LeasePayWithheld"): _pay_withheld,
    ("leases", "LeaseWithheldPayReleased"): _withheld_pay_released,
}
"""(contract, event) -> handler for the lease escrow (deployment-record key `leases`)."""

HANDLERS.update(LEASE_HANDLERS)
