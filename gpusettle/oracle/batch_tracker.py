"""Following a poster's batch transactions until they are final: the part the receipts poster (`poster.py`) and the
checkpoint poster (`checkpoint_poster.py`) share.

Each batch is one signed transaction under one nonce, stored before it is broadcast; fee bumps are stored before
their broadcast too. `BatchTracker.reconcile` follows every open batch: mined (recorded, then final once
`confirmations` deep in a canonical block, when the poster's own `finish` decides what the receipt means), removed
by a reorganisation (broadcast again), stuck (replaced with higher fees, or kept out there at the fee cap, said
once), or its nonce used by another transaction (its items given back to be posted again). What differs between
the posters (which store rows, what a final receipt settles) comes in through `BatchBook` and `finish`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from eth_account.signers.local import LocalAccount

from ..chain.tx import GWEI, FeePolicy, FinalityState, SignedTx
from .metrics import OracleMetrics
from .store import Batch, CheckpointBatch, Store, TxAttempt

if TYPE_CHECKING:
    from .poster import PosterSettings

__all__ = [
    "CRASH_ENV",
    "BatchBook",
    "BatchTracker",
    "TrackedBatch",
    "checkpoint_batches",
    "crash_point",
    "receipt_batches",
]

log = logging.getLogger("gpusettle.oracle.poster")


CRASH_ENV = "GPUSETTLE_ORACLE_CRASH_AT"
"""Fault injection for crash tests: the process dies (as by kill -9) the first time it reaches the named
point: batch_stored (batch committed, not yet broadcast), broadcast (sent, not yet followed) or
mined (mined and recorded, not yet final); checkpoint batches' points have the prefix checkpoint_."""


def crash_point(name: str) -> None:
    """Die here, without any cleanup, if $GPUSETTLE_ORACLE_CRASH_AT names this point."""
    if os.environ.get(CRASH_ENV) == name:
        log.warning("crash point %s reached: exiting abruptly as asked", name)
        os._exit(137)


class TrackedBatch(Protocol):
    """What the tracker reads and updates of a stored batch (store.Batch, store.CheckpointBatch)."""

    id: int
    nonce: int
    mined_hash: str | None
    attempts: list[TxAttempt]


B = TypeVar("B", bound=TrackedBatch)


@dataclass(frozen=True)
class BatchBook(Generic[B]):
    """The store's rows for one kind of batch, as the tracker uses them."""

    open: Callable[[], list[B]]
    """Batches sent and not yet final."""
    add_attempt: Callable[[TxAttempt], None]
    """Record a fee bump (before it is broadcast)."""
    mark_mined: Callable[[int, str, int, str, int], None]
    """(batch id, tx hash, block, block hash, gas used) of the block that holds one of its transactions."""
    mark_unmined: Callable[[int], None]
    """A reorganisation removed the block that held it."""
    give_back: Callable[[B, str], None]
    """Close the batch as failed, with a note, and put all of its items back to be posted again."""
    set_next_nonce: Callable[[int], None]
    """This account's next nonce, as the chain has counted it."""


def receipt_batches(store: Store) -> BatchBook[Batch]:
    """The receipts poster's batches (settleBatch)."""

    def give_back(b: Batch, note: str) -> None:
        store.finish_batch(b.id, {}, {}, b.job_ids, note=note, failed=True)

    return BatchBook(
        store.open_batches,
        store.add_attempt,
        store.mark_mined,
        store.mark_unmined,
        give_back,
        store.set_next_nonce,
    )


def checkpoint_batches(store: Store) -> BatchBook[CheckpointBatch]:
    """The checkpoint poster's batches (submitCheckpoints)."""

    def give_back(b: CheckpointBatch, note: str) -> None:
        store.finish_checkpoint_batch(b.id, {}, {}, b.items, note=note, failed=True)

    return BatchBook(
        store.open_checkpoint_batches, store.add_checkpoint_attempt, store.mark_checkpoint_batch_mined,
        store.mark_checkpoint_batch_unmined, give_back, store.set_next_nonce,
    )  # fmt: skip


@dataclass
class BatchTracker(Generic[B]):
    """Signs, broadcasts and follows one poster's batches (its own in-memory bookkeeping, bounded by `forget`)."""

    book: BatchBook[B]
    chain: Any
    """gpusettle.chain.tx.Chain (or a stand-in with its managed-sending methods)."""
    account: LocalAccount
    settings: PosterSettings
    """Fees, fee bumps, rebroadcasts and the gas margin."""
    confirmations: int
    finish: Callable[[B, TxAttempt, Any], None]
    """The poster's handling of a final receipt (status, events): settles, skips or re-queues the batch's items."""
    metrics: OracleMetrics
    clock: Callable[[], float]
    log: logging.Logger
    label: str = "batch"
    """How log lines name a batch ("batch", "checkpoint batch")."""
    crash_prefix: str = ""
    """Prefix of this poster's crash points (`mined` / `checkpoint_mined`)."""
    nonce_lost_outcome: str = "nonce_lost"
    """The `batches` counter's outcome for a batch whose nonce another transaction used."""
    fee_policy: FeePolicy = field(init=False)
    last_broadcast: dict[int, float] = field(default_factory=dict)
    nonce_gone: dict[int, int] = field(default_factory=dict)
    reported_at_cap: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.fee_policy = FeePolicy(
            max_fee_cap=self.settings.max_fee_cap,
            priority_fee=self.settings.priority_fee,
            bump_percent=self.settings.bump_percent,
        )

    @property
    def address(self) -> str:
        """The account that sends the batches."""
        return str(self.account.address)

    def gas_limit(self, estimate: int) -> int:
        """The gas limit of a batch estimated at `estimate`: the margin, plus room for a state change between."""
        return math.ceil(estimate * self.settings.gas_margin) + 20_000

    def sign(self, to: str, data: str, estimate: int, nonce: int) -> SignedTx:
        """Sign a new batch transaction at today's fees."""
        max_fee, tip = self.chain.eip1559_fees(self.fee_policy)
        signed: SignedTx = self.chain.sign_eip1559(
            self.account,
            to=to,
            data=data,
            gas=self.gas_limit(estimate),
            nonce=nonce,
            max_fee=max_fee,
            tip=tip,
        )
        return signed

    def attempt(self, signed: SignedTx, batch_id: int) -> TxAttempt:
        """The store's record of a signed transaction of batch `batch_id` (0: the batch is not stored yet)."""
        return TxAttempt(
            tx_hash=signed.tx_hash,
            batch_id=batch_id,
            nonce=signed.nonce,
            raw=signed.raw,
            max_fee=signed.max_fee,
            priority_fee=signed.priority_fee,
            created_at=self.clock(),
        )

    def forget(self, open_ids: set[int]) -> None:
        """Drop what is kept about batches no longer open."""
        for table in (self.last_broadcast, self.nonce_gone):
            for batch_id in [b for b in table if b not in open_ids]:
                del table[batch_id]
        self.reported_at_cap.intersection_update(open_ids)

    # -- broadcasting ----------------------------------------------------------------------------------

    def broadcast(self, batch: B, attempt: TxAttempt) -> str | None:
        """Send a stored transaction; None on success (or already known), else the node's complaint."""
        self.last_broadcast[batch.id] = self.clock()
        complaint: str | None = self.chain.broadcast(attempt.raw)
        if complaint is not None:
            self.log.info(
                "%s %d: the node refused tx %s: %s", self.label, batch.id, attempt.tx_hash, complaint
            )
        return complaint

    def _at_cap(self, batch: B, last: TxAttempt) -> None:
        """The fee cannot rise further: say so once per batch, then keep the last transaction out there."""
        if batch.id not in self.reported_at_cap:
            self.reported_at_cap.add(batch.id)
            self.metrics.fee_cap_reached.inc()
            self.log.warning(
                "%s %d: still not mined with its fee at the cap (%.3g gwei); raise --max-fee-cap or wait for "
                "the base fee to fall",
                self.label,
                batch.id,
                self.settings.max_fee_cap / GWEI,
            )
        self.broadcast(batch, last)

    def bump(self, batch: B) -> None:
        """Replace the batch's last transaction with one at higher fees (stored first), or keep it at the cap."""
        last = batch.attempts[-1]
        fees = self.chain.replacement_fees(last.max_fee, last.priority_fee, self.fee_policy)
        if fees is None:
            # The cap leaves no room for a replacement the node would accept: keep the last one.
            self._at_cap(batch, last)
            return
        max_fee, tip = fees
        attempt = self.attempt(self.chain.resign(self.account, last.raw, max_fee, tip), batch.id)
        self.book.add_attempt(attempt)
        batch.attempts.append(attempt)
        self.metrics.fee_bumps.inc()
        self.log.info(
            "%s %d: not mined after %.0f s; replacing with tx %s at max fee %.3g gwei (tip %.3g)",
            self.label,
            batch.id,
            self.clock() - last.created_at,
            attempt.tx_hash,
            max_fee / GWEI,
            tip / GWEI,
        )
        self.broadcast(batch, attempt)

    # -- following -------------------------------------------------------------------------------------

    def reconcile(self) -> bool:
        """Follow every open batch: mined, final, reorganised away, stuck, nonce used by another."""
        moved = False
        open_batches = self.book.open()
        if not open_batches:
            return False
        latest = self.chain.block_number()
        mined_count: int | None = None
        for batch in open_batches:
            found = self.chain.finality(
                [a.tx_hash for a in reversed(batch.attempts)], self.confirmations, latest=latest
            )
            if found.receipt is not None:
                attempt = next(a for a in batch.attempts if a.tx_hash == found.tx_hash)
                if batch.mined_hash != found.block_hash:
                    assert found.block_number is not None and found.block_hash is not None
                    self.book.mark_mined(
                        batch.id,
                        attempt.tx_hash,
                        found.block_number,
                        found.block_hash,
                        int(found.receipt["gasUsed"]),
                    )
                    batch.mined_hash = found.block_hash
                    crash_point(self.crash_prefix + "mined")
                if found.state == FinalityState.FINAL:
                    self.finish(batch, attempt, found.receipt)
                    moved = True
                continue
            if batch.mined_hash is not None:
                self.log.warning(
                    "%s %d: a reorganisation removed its transaction; broadcasting it again",
                    self.label,
                    batch.id,
                )
                self.metrics.reorgs.inc()
                self.book.mark_unmined(batch.id)
                batch.mined_hash = None
                for attempt in batch.attempts:
                    self.broadcast(batch, attempt)
                continue
            if mined_count is None:
                mined_count = int(self.chain.mined_nonce(self.address))
            if mined_count > batch.nonce:
                moved = self._nonce_used(batch, mined_count) or moved
                continue
            last = batch.attempts[-1]
            if self.clock() - last.created_at > self.settings.stuck_after:
                self.bump(batch)
            elif self.clock() - self.last_broadcast.get(batch.id, 0.0) > self.settings.rebroadcast_every:
                self.broadcast(batch, last)
        return moved

    def _nonce_used(self, batch: B, mined_count: int) -> bool:
        """The nonce is used but none of our transactions for it is known: look twice more, then give the items
        back to be posted again (someone else sent from this key)."""
        seen = self.nonce_gone.get(batch.id, 0) + 1
        self.nonce_gone[batch.id] = seen
        if seen < 3:
            return False
        self.log.error(
            "%s %d: nonce %d was used by another transaction; re-posting its items",
            self.label,
            batch.id,
            batch.nonce,
        )
        self.book.give_back(batch, f"nonce {batch.nonce} used by another transaction")
        self.book.set_next_nonce(mined_count)
        self.metrics.batches.labels(self.nonce_lost_outcome).inc()
        return True
