"""What each event does to the index's tables.

Handlers read and write whole rows through `journal.State`, which caches the rows a chunk touches (one
write per row per chunk, not per event) and journals them near the head so a reorg can be rolled back.

Everything here comes from the events themselves and from rows the index built from earlier events (a
job's GPU count from its offer, a job's provider from JobCreated): no eth_call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..availability import class_name
from .events import IndexedEvent
from .journal import State, rewind

__all__ = ["STATUS_OF_DISPUTE", "State", "apply_event", "gpu_family", "rewind"]

STATUS_OF_DISPUTE = {True: "DisputeUpheld", False: "DisputeRejected"}

# One encoder for every event's args (json.dumps with separators builds a new encoder per call).
_compact_json = json.JSONEncoder(separators=(",", ":")).encode

_FAMILY = re.compile(
    r"\b(GB200|B200|B100|H200|H100|H20|H800|A100|A800|A40|A30|A10G?|A16|A2|L40S|L40|L4|V100|T4|P100|MI300X|MI250X?|"
    r"MI210|RTX\s?\d{4}\s?(?:Ti|SUPER)?|RTX\s?A\d{4}|RTX\s?PRO\s?\d{4}|GTX\s?\d{4})\b",
    re.IGNORECASE,
)


def gpu_family(model: str) -> str:
    """The family a model name belongs to ("NVIDIA H100 80GB HBM3" -> "H100"); else the name itself."""
    found = _FAMILY.search(model)
    if found:
        return re.sub(r"\s+", " ", found.group(1).upper().replace("TI", "Ti").replace("SUPER", "SUPER"))
    return model.strip()[:64] or "unknown"


# -- handlers --------------------------------------------------------------------------------------------


@contextmanager
def _provider_row(s: State, address: str, ev: IndexedEvent, t: int) -> Iterator[dict[str, Any]]:
    """The provider's row (made on first sight) to change in the block; stored back after it."""
    row = _provider(s, address, ev, t)
    yield row
    s.put("providers", row["address"], row)


def _provider(s: State, address: str, ev: IndexedEvent, t: int) -> dict[str, Any]:
    row = s.get("providers", address)
    if row is None:
        row = {
            "address": address,
            "worker": None,
            "bonded": "0",
            "unbonding": "0",
            "bonded_num": 0.0,
            "locked": "0",
            "jailed": 0,
            "jobs_completed": 0,
            "jobs_failed": 0,
            "jobs_timed_out": 0,
            "disputes_lost": 0,
            "gpu_seconds_served": 0,
            "earned": "0",
            "earned_num": 0.0,
            "withdrawn": "0",
            "slashed": "0",
            "first_block": ev.block_number,
            "first_time": t,
            "withheld": "0",
        }
    return row


def _add(row: dict[str, Any], column: str, amount: int) -> None:
    row[column] = str(int(row[column]) + amount)


def _set_bonded(row: dict[str, Any], bonded: int) -> None:
    row["bonded"] = str(bonded)
    row["bonded_num"] = float(bonded)


def _staked(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    with _provider_row(s, a["provider"], ev, t) as row:
        _set_bonded(row, a["bonded"])


def _unstake_requested(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    with _provider_row(s, a["provider"], ev, t) as row:
        _set_bonded(row, max(0, int(row["bonded"]) - a["amount"]))
        row["unbonding"] = str(a["unbonding"])


def _withdrawn(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    with _provider_row(s, a["provider"], ev, t) as row:
        row["unbonding"] = str(max(0, int(row["unbonding"]) - a["amount"]))


def _slashed(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    with _provider_row(s, a["provider"], ev, t) as row:
        # ProviderStaking.slash takes bonded stake first, then unbonding.
        bonded, unbonding = int(row["bonded"]), int(row["unbonding"])
        from_bonded = min(a["amount"], bonded)
        _set_bonded(row, bonded - from_bonded)
        row["unbonding"] = str(max(0, unbonding - (a["amount"] - from_bonded)))
        _add(row, "slashed", a["amount"])


def _jailed(value: int) -> Callable[[State, IndexedEvent, int], None]:
    def handler(s: State, ev: IndexedEvent, t: int) -> None:
        with _provider_row(s, ev.args["provider"], ev, t) as row:
            row["jailed"] = value

    return handler


def _worker_set(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    with _provider_row(s, a["provider"], ev, t) as row:
        row["worker"] = None if int(a["worker"], 16) == 0 else a["worker"]


def _terms(row: dict[str, Any], a: dict[str, Any]) -> None:
    row["gpu_count"] = a["gpuCount"]
    row["vram_gb"] = a["vramGb"]
    row["price"] = str(a["pricePerGpuSecond"])
    row["price_num"] = float(a["pricePerGpuSecond"])
    row["price_per_gb"] = float(a["pricePerGpuSecond"]) / max(1, a["vramGb"])
    row["metadata_uri"] = a["metadataURI"]


def _offer_added(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    provider = _provider(s, a["provider"], ev, t)
    s.put("providers", provider["address"], provider)
    row: dict[str, Any] = {
        "offer_id": a["offerId"],
        "provider": a["provider"],
        "gpu_model": a["gpuModel"],
        "gpu_family": gpu_family(a["gpuModel"]),
        "active": 1,
        # New offers are dedicated, not paused, none of their GPUs reserved (ProviderStaking.addOffer).
        "gpu_class": "dedicated",
        "verified": None,
        "hw_checked_at": None,
        "hw_passed": None,
        "hw_gpu_count": None,
        "hw_vram_gb": None,
        "gpus_free": a["gpuCount"],
        "notice_seconds": 0,
        "uptime_bps": 0,
        "paused": 0,
        "gpus_reserved": 0,
        "leases_running": 0,
        "leases_total": 0,
        "jobs_running": 0,
        "jobs_total": 0,
        "created_block": ev.block_number,
        "created_time": t,
        "updated_block": ev.block_number,
    }
    _terms(row, a)
    s.put("offers", a["offerId"], row)


def _offer_updated(s: State, ev: IndexedEvent, t: int) -> None:
    row = s.get("offers", ev.args["offerId"])
    if row is None:
        return
    _terms(row, ev.args)
    _free(row)
    _reverify(row)
    row["updated_block"] = ev.block_number
    s.put("offers", row["offer_id"], row)


def _offer_withdrawn(s: State, ev: IndexedEvent, t: int) -> None:
    row = s.get("offers", ev.args["offerId"])
    if row is None:
        return
    row["active"] = 0
    row["updated_block"] = ev.block_number
    s.put("offers", row["offer_id"], row)


def _reverify(row: dict[str, Any]) -> None:
    """`verified` from the latest hardware check and the offer's current terms (IHardwareRegistry.isVerified
    without the age limit)."""
    if row.get("hw_checked_at") is None:
        row["verified"] = None
        return
    covers = int(row["hw_gpu_count"]) >= int(row["gpu_count"]) and int(row["hw_vram_gb"]) >= int(
        row["vram_gb"]
    )
    row["verified"] = int(bool(row["hw_passed"]) and covers)


def _hardware_checked(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    row = s.get("offers", a["offerId"])
    if row is None:
        return
    row["hw_checked_at"] = a["checkedAt"]
    row["hw_passed"] = int(a["passed"])
    row["hw_gpu_count"] = a["gpuCount"]
    row["hw_vram_gb"] = a["vramGb"]
    _reverify(row)
    row["updated_block"] = ev.block_number
    s.put("offers", row["offer_id"], row)


def _free(row: dict[str, Any]) -> None:
    row["gpus_free"] = max(0, int(row["gpu_count"]) - int(row.get("gpus_reserved") or 0))


def _offer_running(s: State, offer_id: int, delta: int, new_job: bool) -> None:
    row = s.get("offers", offer_id)
    if row is None:
        return
    row["jobs_running"] = max(0, row["jobs_running"] + delta)
    if new_job:
        row["jobs_total"] += 1
    s.put("offers", offer_id, row)


def _gpus_reserved(s: State, ev: IndexedEvent, t: int) -> None:
    """ProviderStaking's GpusReserved / GpusReleased carry the offer's reserved total after the change:
    the one exact source (a settled job's GPUs come back later, when someone calls releaseJobGpus)."""
    row = s.get("offers", ev.args["offerId"])
    if row is None:
        return
    row["gpus_reserved"] = int(ev.args["reserved"])
    _free(row)
    s.put("offers", row["offer_id"], row)


def _offer_availability(s: State, ev: IndexedEvent, t: int) -> None:
    row = s.get("offers", ev.args["offerId"])
    if row is None:
        return
    row["gpu_class"] = class_name(int(ev.args["availabilityClass"]))
    row["notice_seconds"] = int(ev.args["noticeSeconds"])
    row["uptime_bps"] = int(ev.args["uptimeGuaranteeBps"])
    row["updated_block"] = ev.block_number
    s.put("offers", row["offer_id"], row)


def _offer_paused(value: int) -> Callable[[State, IndexedEvent, int], None]:
    def handler(s: State, ev: IndexedEvent, t: int) -> None:
        row = s.get("offers", ev.args["offerId"])
        if row is None:
            return
        row["paused"] = value
        row["updated_block"] = ev.block_number
        s.put("offers", row["offer_id"], row)

    return handler


def _job_created(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    offer = s.get("offers", a["offerId"])
    # Today's JobCreated has no GPU count: it is the offer's at creation, which the index holds (offers
    # are applied in chain order, so a later update has not been seen yet).
    gpu_count = a["gpuCount"] if "gpuCount" in a else (offer["gpu_count"] if offer else 0)
    price, max_gpu_seconds = a["pricePerGpuSecond"], a["maxGpuSeconds"]
    s.put(
        "jobs",
        a["jobId"],
        {
            "job_id": a["jobId"],
            "client": a["client"],
            "provider": a["provider"],
            "offer_id": a["offerId"],
            "gpu_count": gpu_count,
            "price": str(price),
            "max_gpu_seconds": max_gpu_seconds,
            "deposit": str(price * max_gpu_seconds),
            "collateral": str(a["collateral"]),
            "deadline": a["deadline"],
            "accept_by": a["acceptBy"],
            "spec_hash": a["specHash"],
            "status": "Open",
            "created_block": ev.block_number,
            "created_time": t,
            "created_tx": ev.tx_hash,
            "accepted_at": None,
            "ended_block": None,
            "ended_time": None,
            "gpu_seconds": None,
            "payout": None,
            "fee": None,
            "outcome": None,
            "refunded": "0",
            "withheld": "0",
        },
    )
    with _provider_row(s, a["provider"], ev, t) as provider:
        _add(provider, "locked", a["collateral"])
    _offer_running(s, a["offerId"], 1, True)


def _end_job(s: State, ev: IndexedEvent, t: int, status: str) -> dict[str, Any] | None:
    """Move a job to a final status; releases its place on the offer, and its collateral unless it
    settled (a settled job's collateral stays reserved for its dispute window: CollateralReleased)."""
    job = s.get("jobs", ev.args["jobId"])
    if job is None:
        return None
    if job["status"] in ("Open", "Running"):
        if status != "Settled":
            _unlock(s, job["provider"], int(job["collateral"]), ev, t)
        _offer_running(s, job["offer_id"], -1, False)
    job["status"] = status
    job["ended_block"] = ev.block_number
    job["ended_time"] = t
    s.put("jobs", job["job_id"], job)
    return job


def _unlock(s: State, provider_address: str, amount: int, ev: IndexedEvent, t: int) -> None:
    with _provider_row(s, provider_address, ev, t) as provider:
        provider["locked"] = str(max(0, int(provider["locked"]) - amount))


def _collateral_released(s: State, ev: IndexedEvent, t: int) -> None:
    _unlock(s, ev.args["provider"], int(ev.args["amount"]), ev, t)


def _job_accepted(s: State, ev: IndexedEvent, t: int) -> None:
    job = s.get("jobs", ev.args["jobId"])
    if job is None:
        return
    job["status"] = "Running"
    job["accepted_at"] = ev.args["acceptedAt"]
    s.put("jobs", job["job_id"], job)


def _job_cancelled(s: State, ev: IndexedEvent, t: int) -> None:
    job = _end_job(s, ev, t, "Cancelled")
    if job is None:
        return
    _add(job, "refunded", ev.args["refund"])  # the whole deposit goes back with the cancellation
    s.put("jobs", job["job_id"], job)


def _total(s: State, name: str, delta: int) -> None:
    """Network-wide sums kept as rows (journaled like any other), so the explorer never sums all settlements."""
    row = s.get("totals", name) or {"name": name, "value": "0"}
    _add(row, "value", delta)
    s.put("totals", name, row)


def _job_settled(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    job = _end_job(s, ev, t, "Settled")
    if job is None:
        return
    job.update(gpu_seconds=a["gpuSeconds"], payout=str(a["payout"]), fee=str(a["fee"]), outcome=a["outcome"])
    s.put("jobs", job["job_id"], job)
    s.put(
        "settlements",
        a["jobId"],
        {
            "job_id": a["jobId"],
            "provider": job["provider"],
            "block_number": ev.block_number,
            "time": t,
            "tx_hash": ev.tx_hash,
            "gpu_seconds": a["gpuSeconds"],
            "payout": str(a["payout"]),
            "fee": str(a["fee"]),
            "payout_num": float(a["payout"]),
            "outcome": a["outcome"],
        },
    )
    batch = s.get("settlement_txs", ev.tx_hash) or {
        "tx_hash": ev.tx_hash,
        "block_number": ev.block_number,
        "time": t,
        "jobs": 0,
        "gas_used": s.gas_of(ev.tx_hash),
    }
    batch["jobs"] += 1
    s.put("settlement_txs", ev.tx_hash, batch)
    _total(s, "value_settled", a["payout"])
    _total(s, "fees", a["fee"])
    _total(s, "gpu_seconds", a["gpuSeconds"])
    with _provider_row(s, job["provider"], ev, t) as provider:
        # As the escrow counts them: completed jobs that billed something, and the provider's own failures only.
        if a["outcome"] == 0 and a["gpuSeconds"] > 0:
            provider["jobs_completed"] += 1
        elif a["outcome"] == 2:
            provider["jobs_failed"] += 1
        # The dispute reserve may have been raised from the collateral (locked at creation) to what the job paid.
        _add(provider, "locked", int(a["reserve"]) - int(job["collateral"]))
        provider["gpu_seconds_served"] += a["gpuSeconds"]
        _add(provider, "earned", a["payout"])
        provider["earned_num"] = float(provider["earned"])


def hold_pay(s: State, table: str, key: str, ev: IndexedEvent, t: int) -> None:
    """Pay a settlement credited that the escrow holds back for a ruling: not earned until released."""
    row = s.get(table, ev.args[key])
    if row is None:
        return
    amount = int(ev.args["amount"])
    _add(row, "withheld", amount)
    s.put(table, row[_key_column(table)], row)
    with _provider_row(s, row["provider"], ev, t) as provider:
        _add(provider, "withheld", amount)
        _add(provider, "earned", -amount)
        provider["earned_num"] = float(provider["earned"])


def release_pay(s: State, table: str, key: str, ev: IndexedEvent, t: int) -> None:
    """Withheld pay that went to the provider's earnings."""
    row = s.get(table, ev.args[key])
    if row is None:
        return
    amount = int(ev.args["amount"])
    _add(row, "withheld", -amount)
    s.put(table, row[_key_column(table)], row)
    with _provider_row(s, row["provider"], ev, t) as provider:
        _add(provider, "withheld", -amount)
        _add(provider, "earned", amount)
        provider["earned_num"] = float(provider["earned"])


def drop_withheld(s: State, table: str, row: dict[str, Any], ev: IndexedEvent, t: int) -> None:
    """A ruling took what was left of the row's withheld pay (its leftover was released just before)."""
    left = int(row.get("withheld") or 0)
    if left == 0:
        return
    row["withheld"] = "0"
    s.put(table, row[_key_column(table)], row)
    with _provider_row(s, row["provider"], ev, t) as provider:
        _add(provider, "withheld", -left)


def _key_column(table: str) -> str:
    return "job_id" if table == "jobs" else "lease_id"


def _pay_withheld(s: State, ev: IndexedEvent, t: int) -> None:
    hold_pay(s, "jobs", "jobId", ev, t)


def _withheld_pay_released(s: State, ev: IndexedEvent, t: int) -> None:
    release_pay(s, "jobs", "jobId", ev, t)


def _job_timed_out(s: State, ev: IndexedEvent, t: int) -> None:
    job = _end_job(s, ev, t, "TimedOut")
    if job is None:
        return
    _add(job, "refunded", ev.args["refund"])
    s.put("jobs", job["job_id"], job)
    with _provider_row(s, job["provider"], ev, t) as provider:
        provider["jobs_timed_out"] += 1


def _refund_claimed(s: State, ev: IndexedEvent, t: int) -> None:
    job = s.get("jobs", ev.args["jobId"])
    if job is None:
        return
    _add(job, "refunded", ev.args["amount"])
    s.put("jobs", job["job_id"], job)


def _disputed(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    job = s.get("jobs", a["jobId"])
    if job is None:
        return
    job["status"] = "Disputed"
    s.put("jobs", job["job_id"], job)
    s.put(
        "disputes",
        a["jobId"],
        {
            "job_id": a["jobId"],
            "kind": "dispute",
            "client": a["client"],
            "provider": job["provider"],
            "bond": str(a["bond"]),
            "reason_hash": a["reasonHash"],
            "opened_block": ev.block_number,
            "opened_time": t,
            "status": "open",
            "slashed": "0",
            "compensation": "0",
            "resolved_block": None,
        },
    )


def _dispute_resolved(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    job = s.get("jobs", a["jobId"])
    dispute = s.get("disputes", a["jobId"])
    if job is None or dispute is None:
        return
    job["status"] = STATUS_OF_DISPUTE[bool(a["upheld"])]
    s.put("jobs", job["job_id"], job)
    dispute.update(
        status="upheld" if a["upheld"] else "rejected",
        slashed=str(a["slashed"]),
        compensation=str(a["compensation"]),
        resolved_block=ev.block_number,
    )
    s.put("disputes", dispute["job_id"], dispute)
    if a["upheld"]:
        with _provider_row(s, job["provider"], ev, t) as provider:
            provider["disputes_lost"] += 1
        drop_withheld(s, "jobs", job, ev, t)


def _dispute_lapsed(s: State, ev: IndexedEvent, t: int) -> None:
    """No ruling by the ruling deadline: nothing slashed, the bond back to the client."""
    a = ev.args
    job = s.get("jobs", a["jobId"])
    dispute = s.get("disputes", a["jobId"])
    if job is None or dispute is None:
        return
    job["status"] = "DisputeLapsed"
    s.put("jobs", job["job_id"], job)
    dispute.update(status="lapsed", resolved_block=ev.block_number)
    s.put("disputes", dispute["job_id"], dispute)


def _fraud(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    job = _end_job(s, ev, t, "Fraud")
    if job is None:
        return
    s.put(
        "disputes",
        a["jobId"],
        {
            "job_id": a["jobId"],
            "kind": "fraud",
            "client": job["client"],
            "provider": job["provider"],
            "bond": "0",
            "reason_hash": a["evidenceHash"],
            "opened_block": ev.block_number,
            "opened_time": t,
            "status": "upheld",
            "slashed": str(a["slashed"]),
            "compensation": str(a["compensation"]),
            "resolved_block": ev.block_number,
        },
    )
    with _provider_row(s, job["provider"], ev, t) as provider:
        provider["disputes_lost"] += 1


def _earnings_withdrawn(s: State, ev: IndexedEvent, t: int) -> None:
    with _provider_row(s, ev.args["provider"], ev, t) as row:
        _add(row, "withdrawn", ev.args["amount"])


def _oracle_set(s: State, ev: IndexedEvent, t: int) -> None:
    a = ev.args
    s.put(
        "oracle_sets",
        a["epoch"],
        {
            "epoch": a["epoch"],
            "oracles": json.dumps(a["oracles"]),
            "threshold": a["threshold"],
            "block_number": ev.block_number,
            "time": t,
            "tx_hash": ev.tx_hash,
        },
    )


def _fraud_debt_collected(s: State, ev: IndexedEvent, t: int) -> None:
    """What a fraud report could not slash at once, collected later for the client: the fraud's totals grow."""
    a = ev.args
    dispute = s.get("disputes", a["jobId"])
    if dispute is None:
        return
    _add(dispute, "slashed", a["amount"])
    _add(dispute, "compensation", a["amount"])
    s.put("disputes", dispute["job_id"], dispute)


HANDLERS: dict[tuple[str, str], Callable[[State, IndexedEvent, int], None]] = {
    ("staking", "Staked"): _staked,
    ("staking", "UnstakeRequested"): _unstake_requested,
    ("staking", "Withdrawn"): _withdrawn,
    ("staking", "Slashed"): _slashed,
    ("staking", "Jailed"): _jailed(1),
    ("staking", "Unjailed"): _jailed(0),
    ("staking", "WorkerSet"): _worker_set,
    ("staking", "OfferAdded"): _offer_added,
    ("staking", "OfferUpdated"): _offer_updated,
    ("staking", "OfferWithdrawn"): _offer_withdrawn,
    ("staking", "OfferAvailabilitySet"): _offer_availability,
    ("staking", "OfferPaused"): _offer_paused(1),
    ("staking", "OfferResumed"): _offer_paused(0),
    ("staking", "GpusReserved"): _gpus_reserved,
    ("staking", "GpusReleased"): _gpus_reserved,
    ("escrow", "JobCreated"): _job_created,
    ("escrow", "JobAccepted"): _job_accepted,
    ("escrow", "JobCancelled"): _job_cancelled,
    ("escrow", "JobSettled"): _job_settled,
    ("escrow", "JobTimedOut"): _job_timed_out,
    ("escrow", "RefundClaimed"): _refund_claimed,
    ("escrow", "JobDisputed"): _disputed,
    ("escrow", "DisputeResolved"): _dispute_resolved,
    ("escrow", "DisputeLapsed"): _dispute_lapsed,
    ("escrow", "CollateralReleased"): _collateral_released,
    ("escrow", "PayWithheld"): _pay_withheld,
    ("escrow", "WithheldPayReleased"): _withheld_pay_released,
    ("escrow", "FraudReported"): _fraud,
    ("escrow", "FraudDebtCollected"): _fraud_debt_collected,
    ("escrow", "EarningsWithdrawn"): _earnings_withdrawn,
    ("escrow", "OracleSetUpdated"): _oracle_set,
    ("hardware", "HardwareChecked"): _hardware_checked,
}
"""(contract, event) -> handler; events without one (parameters, roles, fees) are kept in `events` only.
The lease escrow's handlers are added by `apply_leases` (imported at the end of this module)."""


def apply_event(s: State, ev: IndexedEvent, t: int) -> None:
    """Apply one event at block time `t` and keep it in the events table."""
    s.block = ev.block_number
    handler = HANDLERS.get((ev.contract, ev.name))
    if handler is not None:
        handler(s, ev, t)
    a = ev.args
    job_id = a.get("jobId")
    offer_id = a.get("offerId")
    account = a.get("provider") or a.get("client")
    s.events.append(
        (
            ev.block_number,
            ev.log_index,
            ev.tx_hash,
            t,
            ev.contract,
            ev.name,
            job_id,
            offer_id,
            account,
            _compact_json(a),
            a.get("leaseId"),
        )
    )


# Registers LeaseEscrow's handlers in HANDLERS (it imports the helpers above, so it comes last).
from . import apply_leases  # noqa: F401
