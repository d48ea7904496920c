"""Hardware checks in the index: HardwareChecked events fill the offers' verified columns (and an offer raised
after its check stops reading as verified); `market offers --verified`, `--match verified=yes` and the explorer's
/api/offers?verified=true filter on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from eth_account.signers.local import LocalAccount
from starlette.testclient import TestClient

from gpusettle.chain.logs import LogReader, RpcLogSource
from gpusettle.cli.main import cli
from gpusettle.devnet import Anvil, DevNet, FastSender, free_port
from gpusettle.explorer.app import create_app
from gpusettle.hardware.models import HardwareCheck
from gpusettle.index.db import Database
from gpusettle.index.follower import Follower
from gpusettle.oracle.hardware import HardwareChecker

E18 = 10**18


@dataclass
class World:
    net: DevNet
    oracle: LocalAccount
    providers: list[LocalAccount]
    offers: list[int]  # [cheap, checked-and-passed, checked-and-failed, never checked]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("hwindex")
    anvil = Anvil(port=free_port(), log_path=workdir / "anvil.log").start()
    try:
        net = DevNet(anvil, workdir)
        names = ["oracle"] + [f"p{i}" for i in range(4)] + [f"w{i}" for i in range(4)]
        keys = net.new_accounts(names, eth=100)
        net.deploy([keys["oracle"].address], threshold=1)
        providers = [keys[f"p{i}"] for i in range(4)]
        net.fund_tokens({p.address: 100_000 * E18 for p in providers})
        prices = [1 * 10**14, 3 * 10**14, 2 * 10**14, 4 * 10**14]
        offers = [
            net.setup_provider(p, keys[f"w{i}"].address, stake=50_000 * E18, gpu_model="NVIDIA H100 80GB HBM3",
                               gpu_count=2, vram_gb=80, price=prices[i])
            for i, p in enumerate(providers)
        ]  # fmt: skip
        world = World(net, keys["oracle"], providers, offers)
        checker = HardwareChecker(net.gs, keys["oracle"])
        head = int(net.gs.chain.w3.eth.get_block("latest")["timestamp"])
        for offer_id, passed in ((offers[1], True), (offers[2], False)):
            checker.post(
                HardwareCheck(offerId=offer_id, challengeId="0x" + "aa" * 32, checkedAt=head, passed=passed,
                              gpuCount=2, vramGb=80, elapsedMs=900, resultRoot="0x" + "bb" * 32)
            )  # fmt: skip
        checker.close()
        yield world
    finally:
        anvil.stop()


def _index(world: World, path: Path) -> Path:
    gs = world.net.gs
    f = Follower(
        Database(path), RpcLogSource(gs.chain.w3), gs.record.addresses, gs.record.deploy_block, chain_id=31337,
        confirmations=0, reader=LogReader(),
    )  # fmt: skip
    f.step()
    if f.db.scalar("SELECT value FROM meta WHERE key = 'token_decimals'") is None:
        f.db.execute("INSERT INTO meta (key, value) VALUES ('token_decimals', '18')")
    f.db.close()
    return path


def run(world: World, *args: str) -> Result:
    env = {
        "GPUSETTLE_RPC_URL": world.net.anvil.url,
        "GPUSETTLE_DEPLOYMENTS": str(world.net.workdir / "deployments"),
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _offers(world: World, index: Path, *extra: str) -> dict[int, dict[str, Any]]:
    got = as_json(run(world, "market", "offers", "--index", str(index), "--json", *extra))
    return {o["offer_id"]: o for o in got["offers"]}


def test_offers_carry_the_latest_check_and_filter_on_it(world: World, tmp_path: Path) -> None:
    index = _index(world, tmp_path / "index.db")
    cheap, good, bad, never = world.offers
    everything = _offers(world, index)
    assert everything[good]["verified"] is True and everything[good]["verified_terms_match"] is True
    assert everything[bad]["verified"] is False and everything[bad]["verified_at"] is not None
    assert everything[cheap]["verified"] is None and everything[never]["verified_at"] is None
    assert list(_offers(world, index, "--verified")) == [good]
    table = run(world, "market", "offers", "--index", str(index))
    assert table.exit_code == 0
    lines = {int(line.split()[0]): line for line in table.output.splitlines() if line.split()[0].isdigit()}
    assert lines[good].rstrip().endswith("verified") and lines[bad].rstrip().endswith("failed")
    assert lines[cheap].rstrip().endswith("-")

    # The explorer's API takes the same filter (and documents it).
    api = TestClient(create_app(index))
    body = api.get("/api/offers", params={"verified": "true"}).json()
    assert [o["offer_id"] for o in body["offers"]] == [good] and body["offers"][0]["verified_at"] is not None
    assert api.get("/api/offers", params={"verified": "maybe"}).status_code == 400
    assert "verified" in json.dumps(api.get("/api/openapi.json").json())
    # And the market page: a Hardware column, and a "Verified hardware" filter.
    html = api.get("/").text
    assert f'data-offer="{good}"' in html and f'data-offer="{bad}"' in html and ">failed</span>" in html
    only = api.get("/", params={"verified": "true"}).text
    assert f'data-offer="{good}"' in only and f'data-offer="{bad}"' not in only and 'title="checked ' in only


def test_match_picks_the_cheapest_verified_offer(world: World, tmp_path: Path) -> None:
    index = _index(world, tmp_path / "index.db")
    gs = world.net.gs
    before = gs.job_count()
    common = ["--index", str(index), "--gpu-seconds", "10", "--spec-hash", "0x" + "11" * 32, "--account", "dev:0",
              "--yes"]  # fmt: skip
    result = run(world, "job", "create", "--match", "gpu=H100,verified=yes", *common)
    assert result.exit_code == 0, result.output
    assert gs.job_count() == before + 1 and gs.job(before + 1).offer_id == world.offers[1]
    typo = run(world, "job", "create", "--match", "verified=perhaps", *common)
    assert typo.exit_code == 1 and "not yes or no" in typo.output


def test_an_offer_raised_after_its_check_is_no_longer_verified(world: World, tmp_path: Path) -> None:
    good = world.offers[1]
    provider = world.providers[1]
    sender = FastSender(world.net.gs, provider)
    sender.call(world.net.gs.staking, "updateOffer", good, 4, 80, 3 * 10**14, "")
    sender.wait()
    index = _index(world, tmp_path / "index.db")
    row = _offers(world, index)[good]
    assert row["verified"] is False and row["verified_terms_match"] is False
    assert _offers(world, index, "--verified") == {}
    assert world.net.gs.is_verified(good) is False
    table = run(world, "market", "offers", "--index", str(index))
    assert any(line.split()[0] == str(good) and line.rstrip().endswith("stale") for line in table.output.splitlines()
               if line.split())  # fmt: skip
    # The match re-checks on-chain: an index still showing it verified is corrected by the registry.
    stale_index = tmp_path / "stale.db"
    stale = _index(world, stale_index)
    db = Database(stale)
    db.execute("UPDATE offers SET verified = 1 WHERE offer_id = ?", (good,))
    db.close()
    result = run(world, "job", "create", "--match", "verified=yes", "--index", str(stale), "--gpu-seconds", "10",
                 "--spec-hash", "0x" + "11" * 32, "--account", "dev:0", "--yes")  # fmt: skip
    assert (
        result.exit_code == 1
        and f"offer {good} does not fit on-chain: the chain does not confirm it is hardware-verified" in result.output
    )
