"""Posting verified receipts on-chain: batches, and the durable bookkeeping of their transactions.

The transaction mechanics (fees and fee bumps, nonces, signing, broadcasting, confirmations and
reorganisations) are `gpusettle.chain.tx`'s; this module decides what to send and when, and commits
every step to the store so that a crash anywhere is harmless.

Rules that make a crash at any moment harmless:
- A batch, its nonce and its signed transaction are committed to the store *before* the transaction
  is broadcast; a fee bump is committed before it is broadcast too. After a restart the poster finds
  the open batches and broadcasts their stored transactions again: the same nonce, so at most one of
  them can ever be mined, and nothing is posted twice.
- The next nonce is this oracle's own record (the highest it has used + 1), checked against the
  chain's *mined* count; the node's pending count is never trusted.
- A batch is final once its transaction is `confirmations` blocks deep in a block that is still
  canonical. A transaction a reorganisation removed is broadcast again.
- Jobs the escrow skips because they are already settled (SettlementSkipped, reason NotRunning) count as
  settled, with the hash of the transaction that did settle them.
- A receipt the escrow skipped for a fault of its own (SettlementSkipped with any other reason: its provider's
  worker key changed, it became late, impossible numbers...) is rejected with that reason, for good: it is never
  posted again nor counted as settled, and the rest of its batch settled (docs/PROTOCOL.md, "Settlement").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from web3.exceptions import Web3Exception

from ..chain import DecodedContractError, Gpusettle
from ..chain.finality import confirmations_for
from ..chain.logs import reader_for
from ..chain.tx import GWEI, FeePolicy, next_nonce
from ..eip712 import CompactSignature
from ..errors import GpusettleError, RpcUnavailableError
from ..models import SETTLED_JOB_STATUSES, SignedReceipt, SkipReason
from .batch_tracker import CRASH_ENV, BatchTracker, crash_point, receipt_batches
from .chainview import ChainView
from .metrics import OracleMetrics
from .quorum import QuorumError, QuorumSigner
from .store import POSTED, REJECTED, VERIFIED, Batch, Store, TxAttempt
from .stored import UnreadableReceiptError, signed_of

__all__ = ["CRASH_ENV", "GWEI", "JOB_ERRORS", "Poster", "PosterSettings", "crash_point"]

log = logging.getLogger("gpusettle.oracle.poster")

JOB_ERRORS = frozenset(
    {
        "JobEscrowWrongProvider",
        "JobEscrowInvalidWorkerSignature",
        "JobEscrowImpossibleTimes",
        "JobEscrowImpossibleGpuSeconds",
        "JobEscrowInvalidOutcome",
        "JobEscrowUnknownJob",
        "JobEscrowWrongStatus",
    }
)
"""Escrow errors whose first argument is the job id of the receipt that caused them."""


@dataclass
class PosterSettings:
    """How the poster batches and prices its transactions."""

    batch_max: int = 200
    """Most receipts in one settleBatch (about 25k gas each)."""
    batch_wait: float = 0.3
    """Seconds a verified receipt may wait for others to share its transaction."""
    confirmations: int | None = None
    """Blocks deep (1 = mined) before a settlement is final; None: the network's own figure
    (`gpusettle.chain.finality.confirmations_for`), at least 2 on any chain that can reorganise."""
    max_in_flight: int = 4
    """Batches sent and not yet final, each with its own nonce."""
    stuck_after: float = 20.0
    """Seconds without being mined before a transaction is replaced with higher fees."""
    rebroadcast_every: float = 10.0
    """Seconds between broadcasts of a pending transaction (the node may have dropped it)."""
    bump_percent: int = 20
    """Fee increase of a replacement (nodes need at least 10%)."""
    max_fee_cap: int = 500 * GWEI
    """Never offer more than this per gas."""
    priority_fee: int | None = None
    """Tip per gas; None asks the node (eth_maxPriorityFeePerGas), else 1 gwei."""
    gas_margin: float = 1.25
    hold_seconds: float = 30.0
    """How long a receipt peers would not sign is left out of batches."""


@dataclass
class _Hold:
    until: float
    reason: str


@dataclass
class Poster:
    """Turns verified receipts into settled ones. Call `step()` in a loop (one thread)."""

    store: Store
    client: Gpusettle
    account: LocalAccount
    signer: QuorumSigner
    view: ChainView
    settings: PosterSettings = field(default_factory=PosterSettings)
    metrics: OracleMetrics = field(default_factory=OracleMetrics)
    _holds: dict[int, _Hold] = field(default_factory=dict)
    _backoff_until: float = 0.0
    clock: Callable[[], float] = time.time
    """Wall-clock time for every decision (batch waits, holds, stuck transactions, back-offs); tests move
    it instead of sleeping."""
    confirmations: int = field(init=False)
    """`settings.confirmations` checked against the chain (ConfigError when unsafe)."""
    fee_policy: FeePolicy = field(init=False)
    tracker: BatchTracker[Batch] = field(init=False)
    """Signs, broadcasts and follows the batch transactions (shared with the checkpoint poster)."""

    def __post_init__(self) -> None:
        self.confirmations = confirmations_for(self.client.chain.chain_id, self.settings.confirmations)
        self.tracker = BatchTracker(
            receipt_batches(self.store), self.client.chain, self.account, self.settings, self.confirmations,
            self._finish, self.metrics, lambda: self.clock(), log,
        )  # fmt: skip
        self.fee_policy = self.tracker.fee_policy

    @property
    def address(self) -> str:
        """The account that sends the settlements."""
        return str(self.account.address)

    # -- the loop --------------------------------------------------------------------------------------

    def step(self) -> bool:
        """Reconcile open batches, then post one new batch if there is one; True if anything moved."""
        moved = self.reconcile()
        if self.clock() >= self._backoff_until:
            moved = self.post_once() or moved
        open_batches = self.store.open_batches()
        self.metrics.in_flight.set(len(open_batches))
        self._forget({b.id for b in open_batches})
        return moved

    def _forget(self, open_ids: set[int]) -> None:
        """Drop what is kept in memory about batches no longer open and holds that have expired, so a
        long-running poster's memory stays bounded by its open batches and current holds."""
        now = self.clock()
        for job, hold in list(self._holds.items()):
            if hold.until <= now:
                del self._holds[job]
        self.tracker.forget(open_ids)

    # -- posting ---------------------------------------------------------------------------------------

    def _ready(self) -> list[tuple[int, str, SignedReceipt]]:
        now = self.clock()
        out = []
        candidates = self.store.receipts(VERIFIED, limit=self.settings.batch_max * 4)
        oldest = min((r.updated_at for r in candidates), default=now)
        if len(candidates) < self.settings.batch_max and now - oldest < self.settings.batch_wait:
            return []
        for stored in candidates:
            hold = self._holds.get(stored.job_id)
            if hold is not None and hold.until > now:
                continue
            # The escrow checks endTime <= block.timestamp: wait until the next block can be that late.
            if stored.end_time > now:
                continue
            try:
                signed = signed_of(stored)
            except UnreadableReceiptError as exc:
                log.error("%s", exc)
                self.store.reject(stored.job_id, exc.reason, only_from=VERIFIED)
                continue
            out.append((stored.job_id, stored.provider, signed))
        out.sort(key=lambda item: (item[1], item[0]))
        return out[: self.settings.batch_max]

    def _calldata(self, receipts: Sequence[SignedReceipt], attestation: list[tuple[bytes, bytes]]) -> str:
        return str(
            self.client.escrow.encode_abi(
                "settleBatch",
                args=[
                    [r.receipt.as_tuple() for r in receipts],
                    [CompactSignature.from_hex(r.r, r.vs).as_tuple() for r in receipts],
                    attestation,
                ],
            )
        )

    def _estimate(self, data: str) -> int:
        """Gas for the batch, estimated as if in a block stamped now: the escrow checks endTime against
        block.timestamp, and on a quiet chain (an automining dev node) the latest block may be older
        than a receipt that is already over."""
        tx = {"from": self.address, "to": self.client.escrow.address, "data": data}
        return self.client.chain.estimate_gas_now(tx, int(self.clock()))

    def _next_nonce(self, open_batches: Sequence[Batch]) -> int:
        # Checkpoint batches (checkpoint_poster) send from the same account: their open nonces count too.
        open_nonces = [b.nonce for b in open_batches]
        open_nonces += [b.nonce for b in self.store.open_checkpoint_batches()]
        return next_nonce(self.client.chain.mined_nonce(self.address), self.store.next_nonce(), open_nonces)

    def post_once(self) -> bool:
        """Build, attest, persist and broadcast one batch; True if a batch was sent or a receipt moved."""
        open_batches = self.store.open_batches()
        if len(open_batches) >= self.settings.max_in_flight:
            return False
        ready = self._ready()
        if not ready:
            return False
        receipts = [signed for _, _, signed in ready]
        oracle_set = self.view.oracle_set()
        try:
            attestation = self.signer.attest(
                receipts, oracle_set.epoch, oracle_set.oracles, oracle_set.threshold
            )
        except QuorumError as exc:
            self._on_quorum_failure(exc, len(oracle_set.oracles), oracle_set.threshold)
            return bool(exc.rejected)
        data = self._calldata(receipts, attestation.as_tuples())
        try:
            gas = self._estimate(data)
        except DecodedContractError as err:
            return self._on_preflight_revert(err, [job for job, _, _ in ready])
        except (Web3Exception, ValueError, OSError, RpcUnavailableError) as exc:
            log.warning("cannot estimate a batch of %d receipts: %s; retrying shortly", len(ready), exc)
            self._backoff_until = self.clock() + 2.0
            return False
        nonce = self._next_nonce(open_batches)
        signed = self.tracker.sign(self.client.escrow.address, data, gas, nonce)
        attempt = self.tracker.attempt(signed, batch_id=0)
        job_ids = [job for job, _, _ in ready]
        batch = self.store.create_batch(job_ids, attestation.epoch, nonce, attempt)
        crash_point("batch_stored")
        log.info(
            "batch %d: %d receipts (jobs %d..%d), nonce %d, tx %s, gas limit %d, max fee %.3g gwei",
            batch.id,
            len(job_ids),
            min(job_ids),
            max(job_ids),
            nonce,
            attempt.tx_hash,
            self.tracker.gas_limit(gas),
            signed.max_fee / GWEI,
        )
        self.tracker.broadcast(batch, batch.attempts[0])
        crash_point("broadcast")
        self.metrics.batches.labels("sent").inc()
        return True

    def _on_quorum_failure(self, exc: QuorumError, size: int, threshold: int) -> None:
        now = self.clock()
        hopeless: dict[int, str] = {}
        for job, reasons in exc.rejected.items():
            # More refusals than the set can spare: this receipt can never gather M signatures.
            if len(reasons) > size - threshold:
                hopeless[job] = "oracle peers refused to co-sign: " + " | ".join(reasons)
            else:
                self._holds[job] = _Hold(now + self.settings.hold_seconds, "; ".join(reasons))
        for job, reason in hopeless.items():
            self.store.set_status([job], REJECTED, reason, only_from=VERIFIED)
        if not exc.rejected:
            log.warning("no quorum: %s; retrying in 5 s", exc)
            self._backoff_until = self.clock() + 5.0

    @staticmethod
    def _chain_clock_behind(err: DecodedContractError) -> bool:
        """JobEscrowImpossibleTimes only because the block was stamped before the receipt's end time
        (everything else about the times is in order)."""
        if err.name != "JobEscrowImpossibleTimes" or len(err.raw_args) < 5:
            return False
        start, end, accepted, now_ts = (int(err.raw_args[i]) for i in (1, 2, 3, 4))
        return start >= accepted and end >= start and end > now_ts

    def _on_preflight_revert(self, err: DecodedContractError, job_ids: Sequence[int]) -> bool:
        job = int(err.raw_args[0]) if err.name in JOB_ERRORS and err.raw_args else None
        if job is not None and job in job_ids:
            if self._chain_clock_behind(err):
                # Only the chain's clock is behind: wait for it rather than reject.
                self._holds[job] = _Hold(self.clock() + 2.0, "end time ahead of the chain")
                return False
            reason = f"the escrow would reject this receipt: {err.message}"
            log.warning("job %d: %s", job, reason)
            self.store.set_status([job], REJECTED, reason, only_from=VERIFIED)
            return True
        log.error("the escrow refuses the whole batch: %s; retrying in 10 s", err)
        self._backoff_until = self.clock() + 10.0
        return False

    # -- reconciling -----------------------------------------------------------------------------------

    def reconcile(self) -> bool:
        """Follow every open batch: mined, deep enough, reorganised away, stuck (`BatchTracker.reconcile`;
        a final one comes back to `_finish`)."""
        return self.tracker.reconcile()

    def _finish(self, batch: Batch, attempt: TxAttempt, receipt: Any) -> None:
        tx_hash = attempt.tx_hash
        block = int(receipt["blockNumber"])
        if int(receipt["status"]) != 1:
            self._finish_reverted(batch, attempt, receipt)
            return
        events = self.client.chain.decode_logs(receipt["logs"])
        settled: dict[int, tuple[str, int]] = {}
        skipped: list[int] = []
        rejected: dict[int, str] = {}
        for event in events:
            if event.contract != "JobEscrow":
                continue
            if event.name == "JobSettled":
                settled[int(event.args["jobId"])] = (tx_hash, block)
            elif event.name == "SettlementSkipped":
                job_id = int(event.args["jobId"])
                reason = skip_reason_of(event.args.get("reason"))
                if reason is SkipReason.NOT_RUNNING:
                    skipped.append(job_id)
                elif reason is SkipReason.IMPOSSIBLE_TIMES and self._ends_after_block(job_id, receipt):
                    # Mined in a block stamped before the receipt ended (this clock ahead of the chain's, or a
                    # reorganisation re-mined it in an older block): wait for the chain, do not reject.
                    self._holds[job_id] = _Hold(self.clock() + 2.0, "end time ahead of the chain")
                else:
                    # A fault of the receipt itself: posting it again would be skipped again.
                    rejected[job_id] = skip_note(job_id, reason)
                    log.warning("batch %d: %s", batch.id, rejected[job_id])
        refused = len(rejected)
        if skipped:
            jobs = self.view.jobs(skipped)
            for job_id in skipped:
                info = jobs.get(job_id)
                status = info.status if info else "unknown"
                elsewhere = self._settlement_of(job_id) if status in SETTLED_JOB_STATUSES else None
                if elsewhere is not None:
                    settled[job_id] = elsewhere
                else:
                    rejected[job_id] = (
                        f"job {job_id} became {status} before the batch was mined; nothing was paid"
                    )
        requeue = [j for j in batch.job_ids if j not in settled and j not in rejected]
        gas_used = int(receipt["gasUsed"])
        self.store.finish_batch(
            batch.id,
            settled,
            rejected,
            requeue,
            note=f"tx {tx_hash} block {block} gas {gas_used}: {len(settled)} settled, {len(skipped)} skipped, "
            f"{refused} refused",
        )
        self.metrics.batches.labels("confirmed").inc()
        self.metrics.settled.inc(len(settled))
        if batch.job_ids:
            self.metrics.gas_per_receipt.observe(gas_used / len(batch.job_ids))
        log.info(
            "batch %d confirmed: tx %s block %d, %d settled, %d skipped, gas %d (%.0f per receipt)",
            batch.id,
            tx_hash,
            block,
            len(settled),
            len(skipped),
            gas_used,
            gas_used / max(len(batch.job_ids), 1),
        )

    def _ends_after_block(self, job_id: int, receipt: Any) -> bool:
        """Whether the stored receipt of `job_id` ends after the timestamp of the block that mined `receipt`
        (the one IMPOSSIBLE_TIMES a later block cures)."""
        stored = self.store.receipt(job_id)
        if stored is None:
            return False
        try:
            stamp = int(self.client.chain.w3.eth.get_block(int(receipt["blockNumber"]))["timestamp"])
        except (Web3Exception, ValueError, KeyError) as exc:
            log.warning("cannot read the timestamp of block %s: %s", receipt.get("blockNumber"), exc)
            return False
        return stored.end_time > stamp

    def _settlement_of(self, job_id: int) -> tuple[str, int] | None:
        """The transaction that settled `job_id` (someone else's batch, or an earlier one of ours)."""
        try:
            # Chunked: an unbounded range from the deploy block fails on hosted RPCs, and the failure
            # used to make a settled job look rejected.
            logs = reader_for(self.client.chain.w3).events(
                self.client.escrow.events.JobSettled,
                self.client.record.deploy_block,
                self.client.chain.block_number(),
                {"jobId": job_id},
            )
        except (Web3Exception, ValueError, GpusettleError) as exc:
            log.warning("cannot look up the settlement of job %d: %s", job_id, exc)
            return None
        if not logs:
            return None
        first = logs[0]
        return first["transactionHash"].to_0x_hex(), int(first["blockNumber"])

    def _finish_reverted(self, batch: Batch, attempt: TxAttempt, receipt: Any) -> None:
        call = {"from": self.address, "to": self.client.escrow.address, "data": _calldata_of(attempt.raw)}
        error = self.client.chain.replay_revert(call, int(receipt["blockNumber"]) - 1)
        rejected: dict[int, str] = {}
        reason = error.message if error else "reverted (out of gas or a state change before it was mined)"
        if error is not None and error.name in JOB_ERRORS and error.raw_args:
            job = int(error.raw_args[0])
            if job in batch.job_ids and self._chain_clock_behind(error):
                # Mined in a block stamped before the receipt ended (this clock ahead of the chain's, or
                # a reorganisation re-mined it in an older block): wait for the chain, do not reject.
                behind = int(error.raw_args[2]) - int(error.raw_args[4])
                self._holds[job] = _Hold(self.clock() + max(2.0, behind), "end time ahead of the chain")
            elif job in batch.job_ids:
                rejected[job] = f"the escrow rejected this receipt: {error.message}"
        requeue = [j for j in batch.job_ids if j not in rejected]
        self.store.finish_batch(
            batch.id, {}, rejected, requeue, note=f"tx {attempt.tx_hash} reverted: {reason}", failed=True
        )
        self.metrics.batches.labels("reverted").inc()
        log.error(
            "batch %d: tx %s reverted: %s; %d receipts will be posted again",
            batch.id,
            attempt.tx_hash,
            reason,
            len(requeue),
        )


SKIP_EXPLANATIONS: dict[SkipReason, str] = {
    SkipReason.NOT_RUNNING: "the job was no longer running",
    SkipReason.TOO_LATE: "it arrived after the job's deadline plus grace; the job can only time out now",
    SkipReason.WRONG_PROVIDER: "it names another provider than the job's",
    SkipReason.WRONG_WORKER: "it is not signed by the provider's current worker key (the key was rotated since)",
    SkipReason.IMPOSSIBLE_TIMES: "its start is before acceptance, or its end before its start or in the future",
    SkipReason.END_AFTER_DEADLINE: "it ends after the job's deadline",
    SkipReason.IMPOSSIBLE_GPU_SECONDS: "it meters more GPU-seconds than its wall time allows",
    SkipReason.INVALID_OUTCOME: "its outcome is not one the escrow knows",
}
"""What each SettlementSkipped reason means, for the receipt's status and the logs."""


def skip_reason_of(raw: Any) -> SkipReason | None:
    """The SkipReason of a decoded SettlementSkipped, or None for a value this version does not know."""
    try:
        return SkipReason(int(raw))
    except (TypeError, ValueError):
        return None


def skip_note(job_id: int, reason: SkipReason | None) -> str:
    """The rejection reason recorded for a receipt the escrow skipped in a batch."""
    if reason is None:
        name, why = "UNKNOWN", "a reason this oracle does not know"
    else:
        name, why = reason.name, SKIP_EXPLANATIONS[reason]
    return f"job {job_id}: the escrow skipped this receipt ({name}): {why}; nothing was paid"


def _calldata_of(raw: bytes) -> HexBytes:
    """The input data of a stored raw transaction."""
    return HexBytes(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["data"])


def posted_jobs(store: Store) -> list[int]:
    """Job ids currently posted and not final (for reports)."""
    return [r.job_id for r in store.receipts(POSTED, limit=100_000)]
