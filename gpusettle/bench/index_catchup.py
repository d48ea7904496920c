"""Index figures: catch-up speed into SQLite on one core (beside the machine's raw keccak rate), head lag
behind a live local chain, and the explorer API's search latency with 10,000 offers and 100,000 jobs.

Sizes: GPUSETTLE_BENCH_INDEX_EVENTS (catch-up events, default 30,000; the issue's figure is 100,000),
`--size` overrides it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from ..hashing import keccak256
from ..index.db import Database
from ..index.follower import Follower
from .market_world import WHOLE_OFFER_FREE
from .report import BenchOptions, BenchReport, machine_info
from .synthetic_chain import ADDRESSES, SyntheticChain, market_events

__all__ = ["run"]

EVENTS_ENV = "GPUSETTLE_BENCH_INDEX_EVENTS"


def keccak_rate(seconds: float = 1.0) -> float:
    """Raw single-core keccak256 calls per CPU-second on 64-byte inputs (the reference rate)."""
    data = b"\x5a" * 64
    n = 0
    started = time.process_time()
    while time.process_time() - started < seconds:
        for _ in range(2000):
            keccak256(data)
        n += 2000
    return n / (time.process_time() - started)


def _catch_up(events: int, seed: int, workdir: Path) -> tuple[int, float, float, float]:
    """(events, wall seconds to index them, CPU seconds of this process for it, seconds spent building
    the synthetic chain). CPU time is the one-core figure on a machine shared with other work."""
    jobs = max(1, int(events / 2.1))
    offers = max(5, events // 40)
    t0 = time.perf_counter()
    chain = SyntheticChain(market_events(offers, jobs, seed))
    built = time.perf_counter() - t0
    db = Database(workdir / "catchup.db")
    f = Follower(db, chain, ADDRESSES, 1, confirmations=0)
    started, cpu = time.perf_counter(), time.process_time()
    while f.step().last_block < chain.head():
        pass
    return chain.count, time.perf_counter() - started, time.process_time() - cpu, built


def _api_latency(workdir: Path, seed: int) -> dict[str, float]:
    """p50/p99 of /api/offers searches over 10,000 offers and 100,000 jobs, and of the market page."""
    import uvicorn

    from ..devnet import free_port
    from ..explorer import create_app

    chain = SyntheticChain(market_events(10_000, 100_000, seed), per_block=50)
    db_path = workdir / "api.db"
    f = Follower(Database(db_path), chain, ADDRESSES, 1, confirmations=0)
    while f.step().last_block < chain.head():
        pass
    f.db.close()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(db_path), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(100):
                try:
                    http.get("/api/stats")
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            queries = [
                "/api/offers",
                "/api/offers?gpu=H100&sort=price",
                "/api/offers?min_vram=80&min_gpus=4&sort=price_per_gb",
                "/api/offers?gpu=a100&max_price=500000000000000",
                "/api/offers?sort=record&limit=100",
                "/api/offers?min_completed=1&offset=200",
                "/api/offers?gpu=4090&min_gpus=2",
            ]
            api: list[float] = []
            for i in range(350):
                started = time.perf_counter()
                response = http.get(queries[i % len(queries)])
                api.append(time.perf_counter() - started)
                response.raise_for_status()
            pages: list[float] = []
            for path in ["/", "/?gpu=H100", "/jobs", "/jobs/99999", "/network", "/oracle"] * 5:
                started = time.perf_counter()
                http.get(path).raise_for_status()
                pages.append(time.perf_counter() - started)
    finally:
        server.should_exit = True
        thread.join(10)
    api.sort()
    pages.sort()
    return {
        "api_p50_ms": 1000 * statistics.median(api),
        "api_p99_ms": 1000 * api[int(0.99 * (len(api) - 1))],
        "page_p50_ms": 1000 * statistics.median(pages),
        "page_max_ms": 1000 * pages[-1],
        "indexed_events": float(chain.count),
    }


def _head_lag(workdir: Path) -> dict[str, float]:
    """Lag between a block being mined on a live anvil and the index holding it, while jobs stream in."""
    from ..chain.logs import RpcLogSource
    from ..devnet import FastSender
    from .market_world import JOB_GPUS, make_market

    anvil, world = make_market(workdir / "lag", jobs_per_offer=2)
    try:
        gs = world.net.gs
        db = Database(workdir / "lag.db")
        follower = Follower(
            db, RpcLogSource(gs.chain.w3), gs.record.addresses, gs.record.deploy_block, confirmations=0
        )
        follower.step()
        stop = threading.Event()
        seen: dict[int, float] = {}

        def on_step(result: object) -> None:
            now = time.perf_counter()
            for n in range(follower.last_block, -1, -1):
                if n in seen:
                    break
                seen[n] = now

        thread = threading.Thread(target=follower.run, args=(stop, 0.1, on_step), daemon=True)
        thread.start()
        mined: dict[int, float] = {}
        # The world's upheld dispute jailed the first offer's provider; its offer with every GPU free takes the jobs.
        offer = world.offers[WHOLE_OFFER_FREE]
        for _ in range(40):
            ids = world.net.open_jobs(
                world.client,
                offer,
                3,
                max_gpu_seconds=60,
                spec_hash=b"\x02" * 32,
                approve=False,
                gpus=JOB_GPUS,
            )
            mined[gs.chain.block_number()] = time.perf_counter()
            # Cancelling gives the GPUs back at once, so the next round fits on the offer again.
            cancel = FastSender(gs, world.client)
            for job_id in ids:
                cancel.call(gs.escrow, "cancelJob", job_id, gas=300_000)
            cancel.wait()
            mined[gs.chain.block_number()] = time.perf_counter()
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and max(mined) not in seen:
            time.sleep(0.02)
        stop.set()
        thread.join(5)
        lags = sorted(max(0.0, seen[n] - t) for n, t in mined.items() if n in seen)
        return {
            "lag_p50_ms": 1000 * statistics.median(lags),
            "lag_max_ms": 1000 * lags[-1],
            "blocks": float(len(lags)),
        }
    finally:
        anvil.stop()


def run(options: BenchOptions) -> BenchReport:
    events = options.size or int(os.environ.get(EVENTS_ENV, "30000"))
    ref = keccak_rate()
    with tempfile.TemporaryDirectory(prefix="gpusettle-index-bench-") as tmp:
        workdir = Path(tmp)
        count, seconds, cpu_seconds, built = _catch_up(events, options.seed, workdir)
        rate = count / seconds
        cpu_rate = count / cpu_seconds
        api = _api_latency(workdir, options.seed)
        lag = _head_lag(workdir)
    rows = [
        ["catch-up into SQLite, per CPU-second", f"{count:,} events", f"{cpu_rate:,.0f} events/s"],
        ["same, wall clock (shared machine)", "", f"{rate:,.0f} events/s"],
        ["raw keccak256, 64 B, per CPU-second", "1 core", f"{ref:,.0f} hashes/s"],
        ["catch-up / keccak", "", f"{cpu_rate / ref:.4f}"],
        [
            "API /api/offers search",
            "10,000 offers, 100,000 jobs",
            f"p50 {api['api_p50_ms']:.1f} ms, p99 {api['api_p99_ms']:.1f} ms",
        ],
        [
            "pages (market, jobs, network...)",
            "same index",
            f"p50 {api['page_p50_ms']:.1f} ms, max {api['page_max_ms']:.1f} ms",
        ],
        [
            "head lag (live anvil, poll 0.1 s)",
            f"{lag['blocks']:.0f} blocks",
            f"p50 {lag['lag_p50_ms']:.0f} ms, max {lag['lag_max_ms']:.0f} ms",
        ],
    ]
    notes = [
        (
            f"catch-up reads exactly encoded logs from memory (building them took {built:.1f} s, not counted): it "
            "measures decoding, projection and SQLite writes, not the RPC. Goal >= 20,000 events/s."
        ),
        f"raise the catch-up size with --size N or {EVENTS_ENV}=100000.",
    ]
    return BenchReport(
        name="index",
        title="Chain index and explorer",
        headers=["what", "size", "result"],
        rows=rows,
        data={
            "machine": machine_info(),
            "catch_up": {
                "events": count,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "events_per_s": rate,
                "events_per_cpu_s": cpu_rate,
            },
            "keccak_per_s": ref,
            "api": api,
            "head_lag": lag,
        },
        notes=notes,
        ok=True,
    )
