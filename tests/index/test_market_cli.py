"""`gpusettle market` and `job create --match` against a local index of a real chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gpusettle.bench.market_world import MarketWorld
from gpusettle.cli.main import cli
from gpusettle.devnet import FastSender

from .conftest import follower


@pytest.fixture(scope="module")
def indexed(market: MarketWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("idx") / "index.db"
    f = follower(market, path)
    f.step()
    f.db.execute("INSERT INTO meta (key, value) VALUES ('token_decimals', '18')")
    f.db.close()
    yield path


def run(market: MarketWorld, *args: str) -> Result:
    env = {"GPUSETTLE_RPC_URL": market.url, "GPUSETTLE_DEPLOYMENTS": str(market.net.workdir / "deployments")}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def create_matching(market: MarketWorld, indexed: Path, match: str, gpu_seconds: str) -> Result:
    """`job create --match MATCH` from the index, sent by dev:0."""
    return run(
        market, "job", "create", "--match", match, "--index", str(indexed), "--gpu-seconds", gpu_seconds,
        "--spec-hash", "0x" + "11" * 32, "--account", "dev:0", "--yes",
    )  # fmt: skip


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_offers_filter_and_sort(market: MarketWorld, indexed: Path) -> None:
    got = as_json(run(market, "market", "offers", "--index", str(indexed), "--gpu", "a100", "--json"))
    assert {o["gpu_family"] for o in got["offers"]} == {"A100"} and got["total"] == 2
    prices = [int(o["price_per_gpu_second"]) for o in got["offers"]]
    assert prices == sorted(prices)
    # 80 GB or more, at most 3.3 tokens per GPU-hour (= 9.16e14 base units per GPU-second).
    got = as_json(
        run(
            market,
            "market",
            "offers",
            "--index",
            str(indexed),
            "--min-vram",
            "80",
            "--max-price",
            "3.3/h",
            "--json",
        )
    )
    assert got["offers"], "some offers fit"
    for o in got["offers"]:
        assert o["vram_gb"] >= 80 and int(o["price_per_gpu_second"]) * 3600 <= 33 * 10**17
    # The same limit per GPU-second (`/s`, the contracts' unit), in any case and spacing.
    for limit in ("0.000916666666666666/s", " 3.3 /H"):
        same = run(
            market,
            "market",
            "offers",
            "--index",
            str(indexed),
            "--min-vram",
            "80",
            "--max-price",
            limit,
            "--json",
        )
        assert as_json(same)["offers"] == got["offers"], limit
    # The jailed provider's offer (the H100 at 9e14) is hidden unless --all.
    ids = [o["offer_id"] for o in got["offers"]]
    assert market.offers[0] not in ids
    all_ids = [
        o["offer_id"]
        for o in as_json(run(market, "market", "offers", "--index", str(indexed), "--all", "--json"))[
            "offers"
        ]
    ]
    assert market.offers[0] in all_ids
    per_gb = as_json(
        run(market, "market", "offers", "--index", str(indexed), "--sort", "price_per_gb", "--json")
    )
    values = [o["price_per_gb"] for o in per_gb["offers"]]
    # The README's rule: every amount in --json is a string of base units.
    assert all(isinstance(v, str) and v.isdigit() for v in values), values
    assert [int(v) for v in values] == sorted(int(v) for v in values)
    record = as_json(run(market, "market", "offers", "--index", str(indexed), "--sort", "record", "--json"))
    done = [o["jobs_completed"] for o in record["offers"]]
    assert done == sorted(done, reverse=True)
    table = run(market, "market", "offers", "--index", str(indexed), "--gpus", "8")
    assert table.exit_code == 0 and "offers fit" in table.output and "A100-SXM4" in table.output


def test_providers_and_stats(market: MarketWorld, indexed: Path) -> None:
    providers = as_json(run(market, "market", "providers", "--index", str(indexed), "--json"))["providers"]
    assert len(providers) == len(market.providers)
    stats = as_json(run(market, "market", "stats", "--index", str(indexed), "--json"))
    assert stats["jobs"] == market.net.gs.job_count()
    assert stats["offers_active"] == len(market.offers) - 1  # one provider was jailed (the upheld dispute)
    assert run(market, "market", "stats", "--index", str(indexed)).output.startswith("indexed to block")


def test_bad_filters_are_clear_errors(market: MarketWorld, indexed: Path) -> None:
    bad = run(market, "market", "offers", "--index", str(indexed), "--max-price", "cheap/h")
    assert (
        bad.exit_code == 1
        and "error: invalid price 'cheap/h': it is not a decimal number" in bad.output
        and "hint:" in bad.output
    ), bad.output
    # A bare number is refused here as in `offer list` and `--match` (it meant per GPU-hour here and per
    # GPU-second there), and the hint spells both readings.
    bare = run(market, "market", "offers", "--index", str(indexed), "--max-price", "3.3")
    assert bare.exit_code == 1 and "error: invalid price '3.3': it has no unit" in bare.output, bare.output
    assert "3.3/s" in bare.output and "3.3/h" in bare.output
    unit = run(market, "market", "offers", "--index", str(indexed), "--max-price", "3.3/d")
    assert unit.exit_code == 1 and "neither s (per GPU-second) nor h (per GPU-hour)" in unit.output
    missing = run(market, "market", "offers", "--index", str(Path(indexed).parent / "nope.db"))
    assert missing.exit_code == 1 and "no index database" in missing.output


def test_job_create_match_skips_offers_taken_since_indexing(market: MarketWorld, indexed: Path) -> None:
    gs = market.net.gs
    # The index still shows the cheapest A100 offer as open, but on-chain it was withdrawn after indexing:
    # the match must re-check it, say so, and open the job on the next one.
    cheapest, second = market.offers[3], market.offers[2]
    sender = FastSender(gs, market.providers[3])
    sender.call(gs.staking, "withdrawOffer", cheapest)
    sender.wait()
    before = gs.job_count()
    result = create_matching(market, indexed, "gpu=A100", "100")
    assert result.exit_code == 0, result.output
    assert f"offer {cheapest} does not fit on-chain: it was withdrawn" in result.output
    assert f"match 2 of 2: offer {second}" in result.output
    assert gs.job_count() == before + 1 and gs.job(before + 1).offer_id == second
    # The provider of the only other fitting offer is jailed now: the escrow refuses, the CLI says it lost.
    governance = FastSender(gs, market.net.deployer)
    governance.call(gs.staking, "jail", market.providers[2].address)
    governance.wait()
    result = create_matching(market, indexed, "gpu=A100", "100")
    assert result.exit_code == 1
    assert "lost the race for offer" in result.output and "none of the 2 matching offers" in result.output
    assert gs.job_count() == before + 1
    nothing = create_matching(market, indexed, "gpu=B200", "1")
    assert nothing.exit_code == 1 and "no active offer fits" in nothing.output
    typo = create_matching(market, indexed, "gpus=four", "1")
    assert typo.exit_code == 1 and "not a whole number" in typo.output
    bare = create_matching(market, indexed, "gpu=A100,max-price=3.5", "1")
    assert bare.exit_code == 1 and "--match max-price: invalid price '3.5': it has no unit" in bare.output
    assert "3.5/h" in bare.output and gs.job_count() == before + 1


def test_index_run_on_a_development_chain_follows_the_head(
    market: MarketWorld, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An automining chain mines a block only per transaction: an index kept 1 block behind would hide
    the last settlement until the next transaction arrives."""
    from web3 import HTTPProvider, Web3

    head = Web3(HTTPProvider(market.url)).eth.block_number
    path = tmp_path_factory.mktemp("head") / "index.db"
    done = as_json(run(market, "index", "run", "--db", str(path), "--once", "--json"))
    assert done["last_block"] == head


def test_a_lying_index_cannot_choose_the_hardware_or_the_price(
    market: MarketWorld, indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index behind --match may be a remote explorer. One that answered every search with an A100 offer dressed
    as an 80 GB H100 (its real price) got the job opened on it, whatever max-price the client gave: the limit sent
    on-chain was the offer's own price. The chain now decides: each candidate is read from it and refused when it
    does not fit what the client asked for."""
    import gpusettle.cli.market as market_cli
    from gpusettle.index.queries import OfferPage
    from gpusettle.index.source import open_source

    gs = market.net.gs
    victim = next(o for o in market.offers if gs.offer(o).active and "A100" in gs.offer(o).gpu_model)
    real = gs.offer(victim)
    honest = open_source(str(indexed), gs.chain.chain_id)
    row = next(o for o in honest.search_offers(market_cli.OfferQuery(include_inactive=True, limit=500)).offers
               if o.offer_id == victim)  # fmt: skip
    dressed = row.model_copy(
        update={"gpu_model": "NVIDIA H100 80GB HBM3", "gpu_family": "H100", "vram_gb": 80}
    )

    class Liar:
        def search_offers(self, q: object) -> OfferPage:
            return OfferPage(total=1, offers=[dressed])

    monkeypatch.setattr(market_cli, "open_source", lambda *_a, **_k: Liar())
    before = gs.job_count()
    result = create_matching(market, indexed, "gpu=H100,min-vram=80", "10")
    assert result.exit_code == 1, result.output
    assert f"offer {victim} does not fit on-chain: its GPU on-chain is {real.gpu_model!r}" in result.output
    below = real.price_per_gpu_second - 1  # a limit below the offer's real price
    cheap = create_matching(market, indexed, f"max-price={below / 10**18:.18f}/s", "10")
    assert cheap.exit_code == 1 and "above max-price" in cheap.output, cheap.output
    assert gs.job_count() == before


def test_all_marks_withdrawn_offers(market: MarketWorld, indexed: Path) -> None:
    """`market offers --all` listed a withdrawn offer like an active one (only --json said active: false)."""
    gs = market.net.gs
    if all(gs.offer(o).active for o in market.offers):  # run alone: withdraw one here
        sender = FastSender(gs, market.providers[3])
        sender.call(gs.staking, "withdrawOffer", market.offers[3])
        sender.wait()
    f = follower(market, indexed)  # catch up with withdrawals made after indexing
    f.step()
    f.db.close()
    rows = as_json(run(market, "market", "offers", "--index", str(indexed), "--all", "--json"))["offers"]
    withdrawn = [o["offer_id"] for o in rows if not o["active"]]
    assert withdrawn, "the market world has a withdrawn offer"
    table = run(market, "market", "offers", "--index", str(indexed), "--all").output
    for line in table.splitlines():
        first = line.split()[0] if line.split() else ""
        if first.isdigit() and int(first) in withdrawn:
            assert "WITHDRAWN" in line, line
