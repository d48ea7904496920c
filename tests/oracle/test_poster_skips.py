"""The poster reads the reasons of SettlementSkipped from a confirmed batch (audit lower 2): a receipt skipped as not
running that is already settled counts as settled; one skipped for a fault of its own (worker key rotated, late,
impossible numbers...) is rejected with that reason for good, never re-posted nor counted as settled; the rest of the
batch settled."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from eth_account import Account

from gpusettle.eip712 import ReceiptVerifier
from gpusettle.models import JobStatus, SkipReason
from gpusettle.oracle.poster import SKIP_EXPLANATIONS, Poster, skip_note
from gpusettle.oracle.quorum import QuorumSigner
from tests.oracle.helpers import CHAIN_ID, ESCROW


class FinishingStore:
    """Records what the poster finishes a batch with."""

    def __init__(self) -> None:
        self.finished: list[tuple[Any, ...]] = []

    def finish_batch(self, batch_id: int, settled: Any, rejected: Any, requeue: Any, **kw: Any) -> None:
        self.finished.append((batch_id, dict(settled), dict(rejected), list(requeue), kw))

    # The poster's batch tracker binds these at construction; finishing a batch must not call them.
    def _unexpected(self, *args: Any, **kw: Any) -> None:
        raise AssertionError("finishing a batch touched the store's batch bookkeeping")

    open_batches = add_attempt = mark_mined = mark_unmined = set_next_nonce = _unexpected

    ends: dict[int, int] = {}

    def receipt(self, job_id: int) -> Any:
        return SimpleNamespace(end_time=self.ends[job_id]) if job_id in self.ends else None


def ev(name: str, **args: Any) -> Any:
    return SimpleNamespace(contract="JobEscrow", name=name, args=args)


def poster_with(events: list[Any], statuses: dict[int, JobStatus], store: FinishingStore) -> Poster:
    account = Account.create()
    w3 = SimpleNamespace(eth=SimpleNamespace(get_block=lambda number: {"number": number, "timestamp": 1_000}))
    chain = SimpleNamespace(chain_id=CHAIN_ID, decode_logs=lambda logs: events, w3=w3)
    view = SimpleNamespace(
        jobs=lambda ids: {j: SimpleNamespace(status=statuses[j]) for j in ids if j in statuses}
    )
    return Poster(
        store=store,  # type: ignore[arg-type]
        client=SimpleNamespace(chain=chain),  # type: ignore[arg-type]
        account=account,
        signer=QuorumSigner(ReceiptVerifier(CHAIN_ID, ESCROW).domain, bytes(account.key), account.address),
        view=view,  # type: ignore[arg-type]
    )


def test_each_skip_reason_is_acted_on(monkeypatch: Any) -> None:
    ids = list(range(1, 11))
    events = [ev("JobSettled", jobId=1), ev("JobSettled", jobId=2)]
    events.append(
        ev("SettlementSkipped", jobId=3, status=3, reason=int(SkipReason.NOT_RUNNING))
    )  # settled before
    events.append(ev("SettlementSkipped", jobId=4, status=5, reason=int(SkipReason.NOT_RUNNING)))  # timed out
    faults = [
        SkipReason.TOO_LATE,
        SkipReason.WRONG_PROVIDER,
        SkipReason.WRONG_WORKER,
        SkipReason.IMPOSSIBLE_TIMES,
        SkipReason.END_AFTER_DEADLINE,
        SkipReason.IMPOSSIBLE_GPU_SECONDS,
    ]
    events += [ev("SettlementSkipped", jobId=5 + i, status=2, reason=int(r)) for i, r in enumerate(faults)]
    store = FinishingStore()
    poster = poster_with(events, {3: JobStatus.SETTLED, 4: JobStatus.TIMED_OUT}, store)
    monkeypatch.setattr(poster, "_settlement_of", lambda job: ("0xearlier", 7) if job == 3 else None)
    batch = SimpleNamespace(id=9, job_ids=ids + [11])
    attempt = SimpleNamespace(tx_hash="0xbatch")
    poster._finish(batch, attempt, {"blockNumber": 12, "status": 1, "gasUsed": 100_000, "logs": []})  # type: ignore[arg-type]

    ((batch_id, settled, rejected, requeue, kw),) = store.finished
    assert batch_id == 9
    assert settled == {1: ("0xbatch", 12), 2: ("0xbatch", 12), 3: ("0xearlier", 7)}
    assert set(rejected) == {4, 5, 6, 7, 8, 9, 10}
    assert "TimedOut" in rejected[4]
    for i, r in enumerate(faults):
        note = rejected[5 + i]
        assert r.name in note and SKIP_EXPLANATIONS[r] in note and "nothing was paid" in note
    assert requeue == [11]  # neither settled nor skipped: posted again
    assert "7 refused" not in kw["note"] and "6 refused" in kw["note"]


def test_every_reason_has_an_explanation_and_unknown_ones_are_named() -> None:
    assert set(SKIP_EXPLANATIONS) == set(SkipReason)
    assert "UNKNOWN" in skip_note(5, None)
    assert "WRONG_WORKER" in skip_note(5, SkipReason.WRONG_WORKER)


def test_a_receipt_ending_after_its_block_waits_for_the_chain_instead_of_being_rejected() -> None:
    """IMPOSSIBLE_TIMES because the block (stamped 1,000 here) came before the receipt's end: the receipt goes back
    in line, held until the chain's clock passes its end; one whose times are wrong in themselves is rejected."""
    events = [
        ev("SettlementSkipped", jobId=1, status=2, reason=int(SkipReason.IMPOSSIBLE_TIMES)),
        ev("SettlementSkipped", jobId=2, status=2, reason=int(SkipReason.IMPOSSIBLE_TIMES)),
    ]
    store = FinishingStore()
    store.ends = {1: 1_004, 2: 900}
    poster = poster_with(events, {}, store)
    batch = SimpleNamespace(id=3, job_ids=[1, 2])
    attempt = SimpleNamespace(tx_hash="0xbatch")
    poster._finish(batch, attempt, {"blockNumber": 5, "status": 1, "gasUsed": 50_000, "logs": []})  # type: ignore[arg-type]
    ((_batch_id, settled, rejected, requeue, _kw),) = store.finished
    assert settled == {} and set(rejected) == {2} and requeue == [1]
    assert 1 in poster._holds and "ahead of the chain" in poster._holds[1].reason
