"""The index against a real chain: it agrees with the contracts' own views, reads through an RPC that
refuses wide ranges, and resumes after kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpusettle.bench.market_world import JOB_GPUS, MarketWorld
from gpusettle.chain import Gpusettle
from gpusettle.chain.logs import LogRangeError, LogReader
from gpusettle.errors import ConfigError
from gpusettle.index import queries
from gpusettle.index.db import Database

from .conftest import dump, follower, fresh_dump
from .rpc_proxy import HostedRpcProxy


def test_index_agrees_with_the_contracts(market: MarketWorld, tmp_path: Path) -> None:
    gs = market.net.gs
    f = follower(market, tmp_path / "i.db")
    result = f.step()
    assert result.events > 50 and result.last_block == gs.chain.block_number()
    db = f.db
    for job_id in range(1, gs.job_count() + 1):
        on_chain = gs.job(job_id)
        row = db.query_dicts("SELECT * FROM jobs WHERE job_id = ?", (job_id,))[0]
        assert row["status"] == on_chain.status, job_id
        assert row["provider"] == on_chain.provider.lower()
        assert row["gpu_count"] == on_chain.gpu_count
        assert int(row["deposit"]) == on_chain.deposit
        assert int(row["collateral"]) == on_chain.collateral
    for p in market.providers:
        row = db.query_dicts("SELECT * FROM providers WHERE address = ?", (p.address.lower(),))[0]
        stake, record = gs.stake_info(p.address), gs.provider_record(p.address)
        assert int(row["bonded"]) == stake.bonded
        assert int(row["unbonding"]) == stake.unbonding
        assert bool(row["jailed"]) == stake.jailed
        assert int(row["locked"]) == record.locked_collateral
        assert (row["jobs_completed"], row["jobs_failed"], row["jobs_timed_out"], row["disputes_lost"]) == (
            record.jobs_completed,
            record.jobs_failed,
            record.jobs_timed_out,
            record.disputes_lost,
        )
        assert row["gpu_seconds_served"] == record.gpu_seconds_served
        assert int(row["slashed"]) == record.total_slashed
    for offer_id in market.offers:
        o = gs.offer(offer_id)
        row = db.query_dicts("SELECT * FROM offers WHERE offer_id = ?", (offer_id,))[0]
        assert (
            row["gpu_model"],
            row["gpu_count"],
            row["vram_gb"],
            int(row["price"]),
            bool(row["active"]),
        ) == (
            o.gpu_model,
            o.gpu_count,
            o.vram_gb,
            o.price_per_gpu_second,
            o.active,
        )
    # Gas per settled job comes from each settlement batch's receipt (one per transaction, not per event).
    settled = gs.events("escrow", "JobSettled")
    txs = {str(e.args["jobId"]): e for e in settled}
    assert len(txs) == len(settled)
    batches = db.query_dicts("SELECT * FROM settlement_txs")
    assert sum(b["jobs"] for b in batches) == len(settled)
    for b in batches:
        assert b["gas_used"] == int(gs.chain.w3.eth.get_transaction_receipt(b["tx_hash"])["gasUsed"])
    stats = queries.stats(db)
    assert stats.gas_per_settled_job == sum(b["gas_used"] for b in batches) / len(settled)
    epochs = [e for (e,) in db.query("SELECT epoch FROM oracle_sets ORDER BY epoch")]
    assert epochs[-1] == gs.oracle_set().epoch and len(epochs) == 2
    # A second step with nothing new changes nothing.
    before = dump(db)
    assert f.step().events == 0
    assert dump(db) == before


def test_reads_through_an_rpc_that_refuses_wide_ranges(market: MarketWorld, tmp_path: Path) -> None:
    expected = fresh_dump(market, tmp_path / "direct.db")
    with HostedRpcProxy(market.url, max_range=7) as proxy:
        reader = LogReader(initial_chunk=10_000)
        f = follower(market, tmp_path / "proxied.db", url=proxy.url, reader=reader)
        f.step()
        assert proxy.refused >= 3, "the reader should have been refused and halved its chunks"
        assert proxy.widest <= 7
        assert reader.chunk <= 7
        assert dump(f.db) == expected
        # The CLI listings and the daemons read logs the same way (web3-decoded events).
        gs = market.net.gs
        via_proxy = Gpusettle.connect(proxy.url, gs.record)
        assert [e.job_id for e in via_proxy.jobs_created()] == [e.job_id for e in gs.jobs_created()]
        assert len(via_proxy.jobs_created()) == gs.job_count()


def test_an_rpc_that_refuses_even_one_block_is_a_clear_error(market: MarketWorld, tmp_path: Path) -> None:
    with HostedRpcProxy(market.url, max_range=0) as proxy:
        f = follower(market, tmp_path / "none.db", url=proxy.url)
        with pytest.raises(LogRangeError, match="even alone"):
            f.step()
        assert f.last_block == market.net.gs.record.deploy_block - 1, "nothing may be recorded as read"


def test_resumes_after_kill_9(market: MarketWorld, tmp_path: Path) -> None:
    db_path = tmp_path / "killed.db"
    net = market.net
    deploy_block = net.gs.record.deploy_block
    head = net.gs.chain.block_number()
    with HostedRpcProxy(market.url, max_range=10_000, delay=0.05) as slow:
        argv = [
            sys.executable, "-m", "gpusettle.cli", "index", "run", "--once", "--confirmations", "0", "--max-chunk", "2",
            "--db", str(db_path), "--rpc-url", slow.url, "--deployments-dir", str(net.workdir / "deployments"),
        ]  # fmt: skip
        proc = subprocess.Popen(argv, env=net.child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            progressed = 0
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    got = Database(db_path, read_only=True).scalar(
                        "SELECT value FROM meta WHERE key = 'last_block'"
                    )
                except (sqlite3.OperationalError, ConfigError):
                    got = None  # not created yet
                progressed = int(got) if got is not None else 0
                if progressed >= deploy_block + 20:
                    break
                time.sleep(0.02)
            assert proc.poll() is None, (
                f"it finished before the kill: {proc.stdout.read() if proc.stdout else ''!r}"
            )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    stopped_at = int(Database(db_path).scalar("SELECT value FROM meta WHERE key = 'last_block'"))
    assert deploy_block + 20 <= stopped_at < head
    done = subprocess.run(
        [*argv[:12], "--rpc-url", market.url, "--deployments-dir", str(net.workdir / "deployments")],
        env=net.child_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert dump(Database(db_path)) == fresh_dump(market, tmp_path / "fresh.db")


def test_index_run_follows_new_blocks_and_stops_on_sigterm(market: MarketWorld, tmp_path: Path) -> None:
    net = market.net
    db_path = tmp_path / "daemon.db"
    argv = [
        sys.executable, "-m", "gpusettle.cli", "index", "run", "--confirmations", "0", "--poll-interval", "0.2",
        "--db", str(db_path), "--rpc-url", market.url, "--deployments-dir", str(net.workdir / "deployments"),
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, env=net.child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        before = net.gs.job_count()
        new = net.open_jobs(
            market.client,
            market.offers[5],
            1,
            max_gpu_seconds=77,
            spec_hash=b"\x07" * 32,
            approve=False,
            gpus=JOB_GPUS,
        )
        deadline = time.monotonic() + 60
        found = None
        while time.monotonic() < deadline and found is None:
            try:
                rows = Database(db_path, read_only=True).query(
                    "SELECT max_gpu_seconds FROM jobs WHERE job_id = ?", (new[0],)
                )
                found = rows[0][0] if rows else None
            except (sqlite3.OperationalError, ConfigError):
                pass
            time.sleep(0.1)
        assert new == [before + 1] and found == 77
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "stopped at block" in out
    finally:
        if proc.poll() is None:
            proc.kill()
