"""Posting built checkpoints to LeaseEscrow.submitCheckpoints, with the receipts poster's discipline:

- a batch, its nonce and its signed transaction are committed to the store before the broadcast, and
  every fee bump before its own; after a crash the stored transactions are broadcast again (same nonce:
  at most one is mined, nothing is paid twice);
- nonces come from this oracle's own record, shared with receipt batches (one account: the poster
  thread runs both posters one after the other), checked against the chain's mined count;
- a batch is final once `confirmations` deep in a canonical block; one a reorganisation removed is
  broadcast again;
- CheckpointSettled marks a checkpoint settled; CheckpointSkipped (stale period, already paid, lease not
  running) marks it skipped, and the builder makes the next one from the chain's paidThrough.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.exceptions import Web3Exception

from ..chain import DecodedContractError
from ..chain.tx import GWEI, next_nonce
from ..errors import RpcUnavailableError
from ..leases.models import Checkpoint
from .batch_tracker import BatchTracker, checkpoint_batches, crash_point
from .chainview import ChainView
from .checkpoint_quorum import CheckpointQuorum
from .metrics import OracleMetrics
from .poster import PosterSettings
from .quorum import QuorumError
from .store import CHECKPOINT_BUILT, CHECKPOINT_SKIPPED, CheckpointBatch, Store, StoredCheckpoint, TxAttempt

__all__ = ["SKIP_REASONS", "CheckpointPoster"]

log = logging.getLogger("gpusettle.oracle.checkpoints")

SKIP_REASONS = {
    0: "the lease is not running",
    1: "not contiguous (a stale, already paid or gapped period)",
    2: "past the billing end",
}
"""ILeaseEscrowTypes.SkipReason; other codes are shown by number."""


def checkpoint_of(stored: StoredCheckpoint) -> Checkpoint:
    """The on-chain form of a stored checkpoint."""
    return Checkpoint(
        leaseId=stored.lease_id,
        fromTime=stored.from_time,
        toTime=stored.to_time,
        upSeconds=stored.up_seconds,
        downSeconds=stored.down_seconds,
        heartbeatsRoot="0x" + stored.root.hex(),
    )


@dataclass
class CheckpointPoster:
    """Turns built checkpoints into settled ones. Call `step()` from the poster thread."""

    store: Store
    chain: Any
    """gpusettle.chain.tx.Chain (or a stand-in with its managed-sending methods)."""
    contract: Any
    """The LeaseEscrow web3 contract: encode_abi, address, events."""
    account: LocalAccount
    quorum: CheckpointQuorum
    view: ChainView
    """For the oracle set."""
    confirmations: int
    settings: PosterSettings = field(default_factory=PosterSettings)
    metrics: OracleMetrics = field(default_factory=OracleMetrics)
    clock: Callable[[], float] = time.time
    _holds: dict[int, float] = field(default_factory=dict)
    _backoff_until: float = 0.0

    def __post_init__(self) -> None:
        self.tracker: BatchTracker[CheckpointBatch] = BatchTracker(
            checkpoint_batches(self.store), self.chain, self.account, self.settings, self.confirmations,
            self._finish, self.metrics, lambda: self.clock(), log,
            label="checkpoint batch", crash_prefix="checkpoint_", nonce_lost_outcome="checkpoints_nonce_lost",
        )  # fmt: skip
        self.fee_policy = self.tracker.fee_policy

    @property
    def address(self) -> str:
        """The account that sends the checkpoints."""
        return str(self.account.address)

    def step(self) -> bool:
        """Follow open batches, then post one new batch if one is due; True if anything moved."""
        moved = self.reconcile()
        if self.clock() >= self._backoff_until:
            moved = self.post_once() or moved
        self.tracker.forget({b.id for b in self.store.open_checkpoint_batches()})
        now = self.clock()
        for lease in [k for k, until in self._holds.items() if until <= now]:
            del self._holds[lease]
        return moved

    # -- posting ---------------------------------------------------------------------------------------

    def _ready(self) -> list[StoredCheckpoint]:
        now = self.clock()
        candidates = self.store.checkpoints(CHECKPOINT_BUILT, limit=self.settings.batch_max * 4)
        oldest = min((c.updated_at for c in candidates), default=now)
        wait = self.settings.batch_wait
        if wait > 0 and len(candidates) < self.settings.batch_max and now - oldest < wait:
            return []
        out: list[StoredCheckpoint] = []
        seen: set[int] = set()
        for stored in candidates:
            if stored.lease_id in seen or self._holds.get(stored.lease_id, 0.0) > now:
                continue
            seen.add(stored.lease_id)
            out.append(stored)
        return out[: self.settings.batch_max]

    def _next_nonce(self) -> int:
        open_nonces = [b.nonce for b in self.store.open_checkpoint_batches()]
        open_nonces += [b.nonce for b in self.store.open_batches()]
        return next_nonce(self.chain.mined_nonce(self.address), self.store.next_nonce(), open_nonces)

    def post_once(self) -> bool:
        """Attest, persist and broadcast one batch; True if one was sent."""
        if len(self.store.open_checkpoint_batches()) >= self.settings.max_in_flight:
            return False
        ready = self._ready()
        if not ready:
            return False
        checkpoints = [checkpoint_of(s) for s in ready]
        oracle_set = self.view.oracle_set()
        try:
            attestation = self.quorum.attest(
                checkpoints, oracle_set.epoch, oracle_set.oracles, oracle_set.threshold
            )
        except QuorumError as exc:
            log.warning("checkpoints: no quorum (%s); retrying shortly", exc)
            until = self.clock() + self.settings.hold_seconds
            for lease in exc.rejected:
                self._holds[lease] = until
            if not exc.rejected:
                self._backoff_until = self.clock() + 5.0
            return False
        data = str(
            self.contract.encode_abi(
                "submitCheckpoints", args=[[c.as_tuple() for c in checkpoints], attestation.as_tuples()]
            )
        )
        try:
            gas = self.chain.estimate_gas_now(
                {"from": self.address, "to": self.contract.address, "data": data}, int(self.clock())
            )
        except DecodedContractError as err:
            log.error("checkpoints: the escrow refuses the batch: %s; retrying in 10 s", err)
            self._backoff_until = self.clock() + 10.0
            return False
        except (Web3Exception, ValueError, OSError, RpcUnavailableError) as exc:
            log.warning("checkpoints: cannot estimate a batch of %d: %s; retrying shortly", len(ready), exc)
            self._backoff_until = self.clock() + 2.0
            return False
        nonce = self._next_nonce()
        signed = self.tracker.sign(self.contract.address, data, gas, nonce)
        batch = self.store.create_checkpoint_batch(
            [s.key for s in ready], attestation.epoch, nonce, self.tracker.attempt(signed, 0)
        )
        crash_point("checkpoint_batch_stored")
        log.info(
            "checkpoint batch %d: %d checkpoints, nonce %d, tx %s, max fee %.3g gwei",
            batch.id,
            len(ready),
            nonce,
            signed.tx_hash,
            signed.max_fee / GWEI,
        )
        self.tracker.broadcast(batch, batch.attempts[0])
        crash_point("checkpoint_broadcast")
        self.metrics.checkpoints.labels("posted").inc(len(ready))
        return True

    # -- following -------------------------------------------------------------------------------------

    def reconcile(self) -> bool:
        """Follow every open batch: mined, final, reorganised away, stuck, nonce used by another
        (`BatchTracker.reconcile`; a final one comes back to `_finish`)."""
        return self.tracker.reconcile()

    def _events(self, receipt: Any) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        address = str(self.contract.address).lower()
        for entry in receipt["logs"]:
            if str(entry["address"]).lower() != address:
                continue
            for name in ("CheckpointSettled", "CheckpointSkipped"):
                try:
                    decoded = getattr(self.contract.events, name)().process_log(entry)
                except Exception:  # noqa: BLE001, S112 - another event of the escrow
                    continue
                out.append((name, dict(decoded["args"])))
                break
        return out

    def _finish(self, batch: CheckpointBatch, attempt: TxAttempt, receipt: Any) -> None:
        block = int(receipt["blockNumber"])
        if int(receipt["status"]) != 1:
            self.store.finish_checkpoint_batch(
                batch.id, {}, {}, batch.items, note=f"tx {attempt.tx_hash} reverted", failed=True
            )
            self.metrics.batches.labels("checkpoints_reverted").inc()
            log.error(
                "checkpoint batch %d: tx %s reverted; its checkpoints will be posted again",
                batch.id,
                attempt.tx_hash,
            )
            self._backoff_until = self.clock() + 10.0
            return
        settled: dict[tuple[int, int], tuple[str, int]] = {}
        skipped: dict[tuple[int, int], str] = {}
        for name, args in self._events(receipt):
            key = (int(args["leaseId"]), int(args["fromTime"]))
            if key not in batch.items:
                continue
            if name == "CheckpointSettled":
                settled[key] = (attempt.tx_hash, block)
            else:
                code = int(args.get("reason", -1))
                skipped[key] = (
                    f"skipped by the escrow: {SKIP_REASONS.get(code, f'reason {code}')} (tx {attempt.tx_hash})"
                )
        requeue = [k for k in batch.items if k not in settled and k not in skipped]
        gas_used = int(receipt["gasUsed"])
        self.store.finish_checkpoint_batch(
            batch.id,
            settled,
            skipped,
            requeue,
            note=f"tx {attempt.tx_hash} block {block} gas {gas_used}: {len(settled)} settled, {len(skipped)} skipped",
        )
        self.metrics.checkpoints.labels("settled").inc(len(settled))
        self.metrics.checkpoints.labels(CHECKPOINT_SKIPPED).inc(len(skipped))
        log.info(
            "checkpoint batch %d confirmed: tx %s block %d, %d settled, %d skipped, gas %d (%.0f per checkpoint)",
            batch.id,
            attempt.tx_hash,
            block,
            len(settled),
            len(skipped),
            gas_used,
            gas_used / max(len(batch.items), 1),
        )
