"""Attack review of 2026-12-03 (failing at 499f7f0, passing from the commit that adds this file): attacks on `job create --match` and `lease open --match` with a fake chain client and a fake index (no node).

1. `job create --match 'max-price=…'` checks the user's max-price against the offer it reads in
   `unfit_on_chain`, then `job create --offer` reads the offer *again* (`_terms`) and sends createJob with that
   second read's price as the limit. The user's max-price never reaches the transaction (the lease path passes it as
   `--max-price`): a price raised between the two reads (the spec's inputs are uploaded in between) is paid.
2. A remote index may answer more offers than asked (`candidates` asks for MATCH_TRIES and keeps all of them):
   `create_matched` then tries every one, so "at most MATCH_TRIES offers" does not hold (each try can send an
   approve of a larger deposit before createJob reverts with a lost-race error).
3. `lease open --match` prints the index's `gpu_class` raw in its "match" line (just before the lease's terms
   and the confirmation prompt): a remote index can send terminal escape sequences there."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

import gpusettle.cli.lease as lease_cli
import gpusettle.cli.market as market_cli
import gpusettle.index.source as source_mod
from gpusettle.chain.client import OfferInfo
from gpusettle.cli.context import Ctx
from gpusettle.cli.main import cli
from gpusettle.errors import GpusettleError
from gpusettle.index.queries import OfferPage, OfferRow

PROVIDER = "0x" + "ab" * 20
CLIENT = "0x" + "cd" * 20
MAX = 10**15  # the --match max-price below, base units per GPU-second (3.6/h)


class Sent(Exception):
    """Raised instead of sending: carries the limits the transaction would have had."""


@dataclass
class FakeClient:
    prices: list[int]
    """The offer's price at each read (the last one repeats)."""
    decimals: int = 18
    symbol: str = "TOK"
    reads: int = 0
    creates: int = 0
    sent: list[int] | None = None

    def __post_init__(self) -> None:
        self.chain = SimpleNamespace(chain_id=31337, timestamp=lambda: 1_800_000_000)

    def offer(self, offer_id: int) -> OfferInfo:
        price = self.prices[min(self.reads, len(self.prices) - 1)]
        self.reads += 1
        return OfferInfo(offer_id, PROVIDER, price, 4, 80, True, "NVIDIA H100 80GB HBM3", "", False)

    def stake_info(self, provider: str) -> Any:
        return SimpleNamespace(worker="0x" + "99" * 20)

    def is_verified(self, offer_id: int, max_age: int = 0) -> bool:
        return True

    def free_gpus(self, offer_id: int) -> int:
        return 4

    def min_run_time(self) -> int:
        return 60

    def token_balance(self, owner: str) -> int:
        return 10**30

    def allowance(self, owner: str, spender: str) -> int:
        return 10**30

    escrow = SimpleNamespace(address="0x" + "ee" * 20)

    def fmt(self, amount: int) -> str:
        return f"{amount} base units"

    def plan_create_job(self, sender: str, offer_id: int, *args: Any, max_price: int, **kw: Any) -> Any:
        self.creates += 1
        (self.sent if self.sent is not None else []).append(max_price)
        raise Sent(max_price)


def row(offer_id: int, price: int, gpu_class: str = "dedicated") -> OfferRow:
    return OfferRow(
        offer_id=offer_id, provider=PROVIDER, gpu_model="NVIDIA H100 80GB HBM3", gpu_family="H100", gpu_count=4,
        vram_gb=80, price_per_gpu_second=str(price), price_per_gb="0", metadata_uri="", active=True,
        gpu_class=gpu_class, verified=None, jobs_running=0, jobs_total=0, jobs_completed=0, jobs_failed=0,
        jobs_timed_out=0, disputes_lost=0, bonded="1", jailed=False,
    )  # fmt: skip


class FakeIndex:
    def __init__(self, offers: list[OfferRow]) -> None:
        self.offers = offers

    def search_offers(self, q: Any) -> OfferPage:
        return OfferPage(total=len(self.offers), offers=self.offers)


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain."""


def wire(monkeypatch: pytest.MonkeyPatch, client: FakeClient, index: FakeIndex) -> None:
    monkeypatch.setattr(Ctx, "client", lambda self: client)
    monkeypatch.setattr(Ctx, "address", lambda self: CLIENT)
    monkeypatch.setattr(market_cli, "open_source", lambda *_a: index)
    monkeypatch.setattr(source_mod, "open_source", lambda *_a: index)


def job_create(tmp_path: Any, match: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["job", "create", "--match", match, "--index", "x.db", "--gpu-seconds", "3600", "--spec-hash",
         "0x" + "11" * 32, "--account", "someone", "--yes"],
        env={"GPUSETTLE_HOME": str(tmp_path)}, color=True,
    )  # fmt: skip


def test_job_create_match_never_sends_a_price_limit_above_max_price(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Within max-price when matched, raised to 5x max-price before `job create --offer` reads it again.
    client = FakeClient(prices=[MAX // 2, MAX * 5], sent=[])
    wire(monkeypatch, client, FakeIndex([row(7, MAX // 2)]))
    r = job_create(tmp_path, "gpu=H100,max-price=3.6/h")
    assert client.sent is not None
    for limit in client.sent:
        assert limit <= MAX, f"createJob would be sent with max_price {limit} > the user's max-price {MAX}:\n{r.output}"


def test_job_create_match_tries_at_most_match_tries_offers_whatever_the_index_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from gpusettle.cli.job import OfferCapacityError

    client = FakeClient(prices=[MAX // 2])
    tried: list[int] = []

    def lost(self: FakeClient, sender: str, offer_id: int, *a: Any, **kw: Any) -> Any:
        tried.append(offer_id)
        raise OfferCapacityError("taken", "")  # another client took the GPUs

    monkeypatch.setattr(FakeClient, "plan_create_job", lost)
    wire(monkeypatch, client, FakeIndex([row(n, MAX // 2) for n in range(1, 41)]))
    job_create(tmp_path, "gpu=H100,max-price=3.6/h")
    assert len(tried) <= market_cli.MATCH_TRIES, f"tried {len(tried)} offers, more than MATCH_TRIES"


def test_lease_open_match_line_carries_no_escape_sequence_from_the_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    client = FakeClient(prices=[MAX // 2])
    wire(monkeypatch, client, FakeIndex([row(7, MAX // 2, gpu_class="dedicated\x1b[8m")]))

    def stop(_c: Any) -> Any:
        raise GpusettleError("stopped before reading the lease escrow", None)

    monkeypatch.setattr(lease_cli, "leases_of", stop)
    r = CliRunner().invoke(
        cli,
        ["lease", "open", "--match", "gpu=H100", "--index", "x.db", "--gpus", "1", "--for", "1h",
         "--spec-hash", "0x" + "11" * 32, "--account", "someone", "--yes"],
        env={"GPUSETTLE_HOME": str(tmp_path)}, color=True,
    )  # fmt: skip
    assert "match 1 of 1: offer 7" in r.output, r.output
    assert "\x1b" not in r.output, f"escape sequence from the index printed raw: {r.output!r}"


def test_job_create_match_verified_yes_needs_the_chain_to_confirm_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """4. `verified=yes` is re-checked on-chain only as `client.is_verified(...) is False`; on a deployment without
    a HardwareRegistry it is None, so an index's (a remote one's) claim `verified: true` is taken as is and the job
    opens on hardware nothing verified."""
    client = FakeClient(prices=[MAX // 2], sent=[])
    monkeypatch.setattr(FakeClient, "is_verified", lambda self, offer_id, max_age=0: None)
    claimed = row(7, MAX // 2).model_copy(update={"verified": True})
    wire(monkeypatch, client, FakeIndex([claimed]))
    r = job_create(tmp_path, "gpu=H100,verified=yes")
    assert client.sent == [], f"createJob sent on an offer the chain cannot confirm as verified:\n{r.output}"
