"""More fault injection against the poster (issue 5, "Fault injection"): reorganisations 1 to 5 blocks
deep after a settlement was mined, a x10 base-fee spike while a settlement is pending (with the fee cap
above and below the spike), and an RPC outage between a running oracle and its node. Every case ends with
each receipt settled exactly once on-chain and the provider paid exactly once.

Anvil and the oracle use ports 8800-8899 here (tests/e2e/conftest uses 8700-8799)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gpusettle.devnet import FastSender, free_port
from gpusettle.eip712 import receipt_struct_hash
from gpusettle.models import SkipReason
from gpusettle.oracle.poster import GWEI, Poster
from gpusettle.oracle.store import NewReceipt, SQLiteStore
from tests.e2e import conftest
from tests.e2e.conftest import World, make_world, until_receipts_can_end, wait_until
from tests.e2e.test_poster_faults import (
    MovableClock,
    make_poster,
    mined,
    settled_once,
    step_until,
    verified_receipts,
)

MY_PORTS = (8800, 8899)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conftest, "PORTS", MY_PORTS)
        # No worker releases settled jobs' GPUs here: room for all the module's 2-GPU jobs at once
        # (about 30, the reorg case alone opens 3 per depth).
        anvil, w = make_world(tmp_path_factory.mktemp("faults-more"), offer_gpus=128)
    try:
        yield w
    finally:
        for proc in w.processes:
            proc.stop()
        anvil.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "oracle.sqlite")
    yield s
    s.close()


def paid_once(
    world: World, job_ids: list[int], provider_before: int, allowed_skips: frozenset[int] = frozenset()
) -> None:
    """One JobSettled per job, none skipped (but for skip reasons in `allowed_skips`), and the provider's
    withdrawal is exactly those payouts."""
    settled_once(world, job_ids)
    gs = world.net.gs
    payouts = 0
    for job_id in job_ids:
        (event,) = gs.events("escrow", "JobSettled", jobId=job_id)
        payouts += int(event.args["payout"])
        skips = gs.events("escrow", "SettlementSkipped", jobId=job_id)
        assert all(int(e.args["reason"]) in allowed_skips for e in skips), skips
    assert payouts > 0
    sender = FastSender(gs, world.provider)
    sender.call(gs.escrow, "withdrawEarnings")
    sender.wait()
    assert gs.token_balance(world.provider.address) == provider_before + payouts


def drain(poster: Poster, store: SQLiteStore, world: World, mine: bool = False, rounds: int = 60) -> None:
    for _ in range(rounds):
        poster.step()
        if not store.open_batches() and not store.counts()["verified"]:
            return
        if mine:
            world.net.anvil.rpc("evm_mine", [])
        time.sleep(0.05)
    raise AssertionError(f"poster did not finish: {store.counts()} open={store.open_batches()}")


# -- (a) reorganisations 1..5 deep --------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_reorg_after_settlement_is_posted_again_and_paid_once(
    world: World, store: SQLiteStore, depth: int
) -> None:
    anvil = world.net.anvil
    provider_before = world.net.gs.token_balance(world.provider.address)
    poster = make_poster(world, store, confirmations=depth + 1)
    jobs = verified_receipts(world, store, 3)
    for _ in range(depth + 1):
        anvil.rpc("evm_mine", [])  # the acceptances stay out of reach of the reorganisation
    assert poster.step()
    step_until(poster, mined(store), "the batch to be mined", world)
    (batch,) = store.open_batches()
    first_tx = batch.mined_tx
    for _ in range(depth - 1):
        anvil.rpc("evm_mine", [])  # the settlement is now exactly `depth` blocks deep, not yet final
    poster.step()
    assert store.open_batches(), "final before the reorganisation"
    anvil.rpc("anvil_reorg", [depth, []])  # the blocks holding it are replaced by empty ones
    drain(poster, store, world, mine=True)
    assert poster.metrics.reorgs._value.get() >= 1
    assert {store.receipt(j).tx_hash for j in jobs} == {first_tx}  # type: ignore[union-attr]
    assert store.counts()["settled"] == len(jobs)
    paid_once(world, jobs, provider_before)


def test_the_default_confirmations_survive_a_one_block_reorg(
    world: World, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9, defect 2: no --confirmations given, on a chain that can reorganise (anvil posing as
    sepolia for the network table), a one-block reorganisation after the batch was mined is noticed and
    the batch is posted again; with the old default of 1 the batch was final in its own block."""
    from gpusettle.chain import finality
    from gpusettle.deploy.networks import NETWORKS

    monkeypatch.setattr(finality, "DEVELOPMENT_CHAIN_IDS", frozenset())
    monkeypatch.setattr(finality, "network_for_chain_id", lambda _chain_id: NETWORKS["sepolia"])
    anvil = world.net.anvil
    provider_before = world.net.gs.token_balance(world.provider.address)
    poster = make_poster(world, store)  # no confirmations: the default
    assert poster.confirmations == NETWORKS["sepolia"].settings.confirmations >= 2
    jobs = verified_receipts(world, store, 2)
    for _ in range(2):
        anvil.rpc("evm_mine", [])  # the acceptances stay out of reach of the reorganisation
    assert poster.step()
    step_until(poster, mined(store), "the batch to be mined", world)
    assert store.open_batches(), "final in the block it was mined in"
    anvil.rpc("anvil_reorg", [1, []])  # that block is replaced by an empty one
    assert world.net.gs.job(jobs[0]).status == "Running"
    drain(poster, store, world, mine=True)
    assert poster.metrics.reorgs._value.get() >= 1
    assert store.counts()["settled"] == len(jobs)
    paid_once(world, jobs, provider_before)


def test_a_settlement_mined_before_its_end_time_is_posted_again_not_rejected(
    world: World, store: SQLiteStore
) -> None:
    """A batch can be mined in a block stamped before a receipt's end time (the oracle's clock runs ahead
    of the chain's, or a reorganisation re-mines it in an older-stamped block): the escrow skips it in the batch
    with IMPOSSIBLE_TIMES, and the receipt must wait for the chain's clock, not be rejected for good.
    The poster's clock is moved ahead to make it happen on demand."""
    clock = MovableClock()
    clock.advance(30)
    poster = make_poster(world, store, clock)
    provider_before = world.net.gs.token_balance(world.provider.address)
    (job_id, accepted_at), *_ = world.jobs(1).items()
    end = world.net.gs.chain.timestamp("latest") + 4  # a few seconds ahead of the chain
    r = world.receipt(job_id, accepted_at, wall=end - accepted_at, gpu_seconds=1)
    store.add_receipt(
        NewReceipt(
            job_id,
            r.provider,
            world.worker.address,
            receipt_struct_hash(r),
            json.dumps(world.sign(r)),
            r.endTime,
        )
    ).result()
    store.set_status([job_id], "verified")
    assert poster.step()  # sent at once: by the poster's clock the receipt is over
    step_until(poster, lambda: not store.open_batches(), "the reverted batch to be closed", world)
    receipt = store.receipt(job_id)
    assert receipt is not None and receipt.status == "verified", receipt  # back in line, not rejected
    wait_until(lambda: time.time() > end + 1, 30, "the chain's clock to pass the end time")
    clock.advance(5)  # past the hold
    drain(poster, store, world, mine=True)
    assert store.counts()["settled"] == 1
    paid_once(world, [job_id], provider_before, frozenset({int(SkipReason.IMPOSSIBLE_TIMES)}))


# -- (b) base fee spike x10 while a settlement is pending ---------------------------------------------


def set_base_fee_and_mine(world: World, fee: int) -> None:
    world.net.anvil.rpc("anvil_setNextBlockBaseFeePerGas", [hex(fee)])
    world.net.anvil.rpc("evm_mine", [])


def latest_base_fee(world: World) -> int:
    return int(world.net.gs.chain.w3.eth.get_block("latest")["baseFeePerGas"])


def pending_after_spike(world: World, store: SQLiteStore, cap: int) -> tuple[Poster, list[int], int]:
    """A batch sent at base fee 1 gwei, then a block at 10 gwei that it cannot enter."""
    poster = make_poster(world, store, stuck_after=0.3, max_fee_cap=cap, priority_fee=GWEI)
    assert isinstance(poster.clock, MovableClock)
    jobs = verified_receipts(world, store, 3)
    set_base_fee_and_mine(world, GWEI)
    world.net.anvil.rpc("evm_setAutomine", [False])
    assert poster.step()
    (batch,) = store.open_batches()
    first_fee = batch.attempts[0].max_fee
    assert first_fee == 3 * GWEI  # 2 x base + tip
    set_base_fee_and_mine(world, 10 * GWEI)  # the spike: the pending settlement cannot pay this
    assert latest_base_fee(world) == 10 * GWEI
    (batch,) = store.open_batches()
    assert batch.mined_hash is None
    return poster, jobs, first_fee


def test_fee_spike_replacement_jumps_to_the_new_base_fee(world: World, store: SQLiteStore) -> None:
    provider_before = world.net.gs.token_balance(world.provider.address)
    cap = 50 * GWEI
    try:
        poster, jobs, _ = pending_after_spike(world, store, cap)
        for _ in range(20):
            poster.clock.advance(0.35)  # type: ignore[attr-defined]  # past stuck_after
            poster.step()
            (batch,) = store.open_batches()
            if len(batch.attempts) > 1:
                break
        (batch,) = store.open_batches()
        fees = [a.max_fee for a in batch.attempts]
        assert len(fees) >= 2 and fees == sorted(fees) and len(set(fees)) == len(fees)
        # The replacement follows the spiked base fee (2 x 10 gwei + tip), not just +20%.
        assert fees[1] >= 2 * 10 * GWEI and all(f <= cap for f in fees)
        assert len({a.nonce for a in batch.attempts}) == 1
        world.net.anvil.rpc("evm_mine", [])  # base fee now ~8.75 gwei: the replacement fits
    finally:
        world.net.anvil.rpc("evm_setAutomine", [True])
    drain(poster, store, world, mine=True)
    mined = {store.receipt(j).tx_hash for j in jobs}  # type: ignore[union-attr]
    assert len(mined) == 1 and mined <= {a.tx_hash for a in batch.attempts}
    assert mined != {batch.attempts[0].tx_hash}
    assert poster.metrics.fee_bumps._value.get() >= 1
    paid_once(world, jobs, provider_before)


def test_fee_spike_above_the_cap_bumps_to_the_cap_and_waits(
    world: World, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    provider_before = world.net.gs.token_balance(world.provider.address)
    cap = 6 * GWEI  # below the spiked base fee of 10 gwei
    caplog.set_level(logging.INFO, logger="gpusettle")
    try:
        poster, jobs, _ = pending_after_spike(world, store, cap)
        for _ in range(15):
            poster.clock.advance(0.35)  # type: ignore[attr-defined]  # past stuck_after
            poster.step()
        (batch,) = store.open_batches()
        fees = [a.max_fee for a in batch.attempts]
        assert len(fees) >= 2 and fees == sorted(fees) and len(set(fees)) == len(fees)
        # Bumped until a replacement the node would take (>= +10%) no longer fits under the cap.
        assert all(f <= cap for f in fees) and fees[-1] * 110 > cap * 100
        bumps = poster.metrics.fee_bumps._value.get()
        assert bumps == len(fees) - 1
        # While it waits at the cap the poster reports it once: a warning and the cap-reached counter.
        assert poster.metrics.in_flight._value.get() == 1
        assert sum("replacing with tx" in r.getMessage() for r in caplog.records) == bumps
        assert poster.metrics.fee_cap_reached._value.get() == 1
        assert (
            sum("fee at the cap" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
            == 1
        )
        # Still spiked: another block at 10 gwei leaves it out; no further replacement is made.
        set_base_fee_and_mine(world, 10 * GWEI)
        poster.clock.advance(0.35)  # type: ignore[attr-defined]
        poster.step()
        (batch,) = store.open_batches()
        assert batch.mined_hash is None and len(batch.attempts) == len(fees)
        set_base_fee_and_mine(world, GWEI)  # the spike is over: the capped replacement is mined
    finally:
        world.net.anvil.rpc("evm_setAutomine", [True])
    drain(poster, store, world, mine=True)
    mined = {store.receipt(j).tx_hash for j in jobs}  # type: ignore[union-attr]
    assert mined == {batch.attempts[-1].tx_hash}
    paid_once(world, jobs, provider_before)


# -- (c) RPC outage between a running oracle and its node ----------------------------------------------


class CuttableProxy:
    """A TCP proxy in front of anvil; cut() drops every connection and refuses new ones until restore()."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port(*MY_PORTS)
        self.up = True
        self.refused = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if not self.up:
                self.refused += 1
                conn.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [conn, upstream]
            threading.Thread(target=self._pump, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.up = False
        with self._lock:
            sockets, self._open = self._open, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self._stopped = True
        self.cut()
        self._server.close()


OUTAGE_S = 30.0  # as long as issue 5 asks; a cut connection fails at once, so the oracle retries throughout


def submit(url: str, doc: dict[str, object], deadline: float) -> None:
    while True:
        try:
            response = httpx.post(f"{url}/v1/receipts", json=doc, timeout=5)
            if response.status_code in (200, 202):
                return
            assert response.status_code == 503, response.text  # chain unreachable: retry
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "receipt never acknowledged"
        time.sleep(0.2)


def test_rpc_outage_during_posting_recovers_and_settles_once(world: World) -> None:
    gs = world.net.gs
    anvil = world.net.anvil
    provider_before = gs.token_balance(world.provider.address)
    accepted = world.jobs(6)
    until_receipts_can_end(accepted)
    docs = {j: world.sign(world.receipt(j, at)) for j, at in accepted.items()}
    first, second = sorted(docs)[:3], sorted(docs)[3:]
    proxy = CuttableProxy(anvil.port)
    oracle = None
    try:
        oracle, url = world.start_oracle(
            "oracle-outage", "--rpc-url", proxy.url, port=free_port(*MY_PORTS), arbiter=False
        )
        deadline = time.monotonic() + 80
        anvil.rpc("evm_setAutomine", [False])  # the first settlement stays pending until the outage
        try:
            for j in first:
                submit(url, docs[j], deadline)
            wait_until(
                lambda: all(conftest.receipt_status(url, j).get("status") == "posted" for j in first),
                20,
                "posting",
                world,
            )
            proxy.cut()
            cut_at = time.monotonic()
            for j in second:  # intake still works from the cached worker key, or answers 503
                submit(url, docs[j], deadline)
            anvil.rpc("evm_mine", [])  # mined while the oracle cannot see the node
        finally:
            anvil.rpc("evm_setAutomine", [True])
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
        assert oracle.alive(), oracle.tail()
        assert all(gs.job(j).status != "Settled" for j in second)
        assert proxy.refused > 0  # the oracle kept trying the node during the outage
        proxy.restore()
        wait_until(
            lambda: all(conftest.receipt_status(url, j).get("status") == "settled" for j in docs),
            max(5.0, deadline - time.monotonic()),
            "everything settled after the outage",
            world,
        )
        assert oracle.alive(), oracle.tail()
        paid_once(world, sorted(docs), provider_before)
        # The outage is reported as such, one line per retry, not as unexpected errors with tracebacks.
        log_text = oracle.log_path.read_text(errors="replace")
        assert "cannot reach the node" in log_text
        assert "Traceback" not in log_text, oracle.tail()
    finally:
        if oracle is not None:
            oracle.stop()
        proxy.close()
