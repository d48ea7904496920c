"""The poster's in-memory maps do not grow without bound (issue 9, defect 4): holds expire and the
per-batch bookkeeping goes once a batch is no longer open."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from eth_account import Account

from gpusettle.eip712 import ReceiptVerifier
from gpusettle.oracle.poster import Poster, _Hold
from gpusettle.oracle.quorum import QuorumSigner
from tests.oracle.helpers import CHAIN_ID, ESCROW


class OpenBatches:
    """A store that has only open batches (and nothing to post)."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def open_batches(self) -> list[Any]:
        return [SimpleNamespace(id=i) for i in self.ids]

    def receipts(self, status: str, limit: int = 1000) -> list[Any]:
        return []

    def __getattr__(self, name: str) -> Any:
        """The store's other methods: bound by the poster, never called here."""

        def unused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"store.{name} was called")

        return unused


def test_finished_batches_and_expired_holds_are_forgotten(monkeypatch: Any) -> None:
    account = Account.create()
    poster = Poster(
        store=OpenBatches([7]),  # type: ignore[arg-type]
        client=SimpleNamespace(chain=SimpleNamespace(chain_id=CHAIN_ID)),  # type: ignore[arg-type]
        account=account,
        signer=QuorumSigner(ReceiptVerifier(CHAIN_ID, ESCROW).domain, bytes(account.key), account.address),
        view=SimpleNamespace(),  # type: ignore[arg-type]
    )
    monkeypatch.setattr(poster, "reconcile", lambda: False)
    now = time.time()
    poster._holds.update({1: _Hold(now - 1, "expired"), 2: _Hold(now + 100, "still held")})
    poster.tracker.last_broadcast.update({6: 1.0, 7: 2.0})
    poster.tracker.nonce_gone.update({6: 2, 7: 1})
    poster.tracker.reported_at_cap.update({6, 7})
    poster.step()
    assert set(poster._holds) == {2}
    assert set(poster.tracker.last_broadcast) == {7}
    assert set(poster.tracker.nonce_gone) == {7}
    assert poster.tracker.reported_at_cap == {7}
