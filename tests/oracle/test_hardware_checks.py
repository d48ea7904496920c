"""Hardware checks end to end against anvil: the oracle challenges a worker's probe server (in-process, over HTTP),
judges the answer and records it in the HardwareRegistry; honest, wrong, lazy, slow and unauthorised cases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from gpusettle.devnet import Anvil, DevNet, free_port
from gpusettle.eip712 import Domain
from gpusettle.hardware.attest import check_digest, registry_domain
from gpusettle.hardware.models import HardwareCheck
from gpusettle.hardware.rows import Products, compute_products, row_leaf
from gpusettle.hardware.sizing import ChallengeSettings, challenge_size
from gpusettle.leases.merkle import merkle_root
from gpusettle.oracle.hardware import HardwareChecker
from gpusettle.worker.hardware import HARDWARE_PATH, HardwareResponder
from gpusettle.worker.probe import ProbeServer, peer_auth

E18 = 10**18
# Tiny challenges: 80 GB scaled to n = 32, so a check takes milliseconds on the CPU.
SETTINGS = ChallengeSettings(scale=0.0004, min_n=16, sampled_rows=12)


@dataclass
class World:
    net: DevNet
    oracle: LocalAccount
    provider: LocalAccount
    offer_id: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("hardware")
    anvil = Anvil(port=free_port(), log_path=workdir / "anvil.log").start()
    try:
        net = DevNet(anvil, workdir)
        keys = net.new_accounts(["oracle", "provider", "worker"], eth=100)
        net.deploy([keys["oracle"].address], threshold=1)
        net.fund_tokens({keys["provider"].address: 100_000 * E18})
        offer = net.setup_provider(
            keys["provider"],
            keys["worker"].address,
            stake=50_000 * E18,
            gpu_model="NVIDIA H100 80GB HBM3",
            gpu_count=2,
            vram_gb=80,
            price=10**15,
        )
        yield World(net, keys["oracle"], keys["provider"], offer)
    finally:
        anvil.stop()


def _server(world: World, compute: Any = compute_products, auth: bool = True) -> ProbeServer:
    gs = world.net.gs
    domain = Domain(gs.chain.chain_id, str(gs.escrow.address))
    check = peer_auth(domain, lambda: set(gs.oracle_set().oracles), path=HARDWARE_PATH) if auth else None
    responder = HardwareResponder(False, auth=check, compute=compute)
    return ProbeServer(lambda _lease: None, False, hardware=responder.handle).start()


def _checker(
    world: World, settings: ChallengeSettings = SETTINGS, account: LocalAccount | None = None
) -> HardwareChecker:
    return HardwareChecker(world.net.gs, account or world.oracle, settings)


def _verified(world: World) -> bool:
    registry = world.net.gs.hardware_registry
    assert registry is not None
    return bool(registry.functions.isVerified(world.offer_id, 0).call())


def test_challenge_size_follows_the_claimed_vram() -> None:
    full = ChallengeSettings()
    assert challenge_size(80, full) == 16_384  # capped: 80 GB would take n ~ 80,000
    assert challenge_size(1, full) == 8_973  # 3 n^2 float32 values fill 90% of 1 GiB
    assert challenge_size(80, SETTINGS) == 32
    assert challenge_size(8, SETTINGS) == 16  # the floor


def test_python_digest_equals_the_contract(world: World) -> None:
    gs = world.net.gs
    registry = gs.hardware_registry
    assert registry is not None
    check = HardwareCheck(
        offerId=1,
        challengeId="0x" + "ab" * 32,
        checkedAt=1_700_000_000,
        passed=True,
        gpuCount=2,
        vramGb=80,
        elapsedMs=77,
        resultRoot="0x" + "cd" * 32,
    )
    domain = registry_domain(gs.chain.chain_id, str(registry.address))
    assert check_digest(check, 5, domain) == bytes(registry.functions.checkDigest(check.as_tuple(), 5).call())


def test_honest_worker_passes_and_is_recorded(world: World) -> None:
    server = _server(world)
    checker = _checker(world)
    try:
        verdict, tx_hash = checker.check_and_post(world.offer_id, f"http://127.0.0.1:{server.port}")
    finally:
        checker.close()
        server.stop()
    assert verdict.problem is None and verdict.check.passed and verdict.n == 32
    gs = world.net.gs
    receipt = gs.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    events = [e for e in gs.chain.decode_logs(receipt["logs"]) if e.name == "HardwareChecked"]
    assert len(events) == 1
    args = events[0].args
    assert args["offerId"] == world.offer_id and args["passed"] is True
    assert (args["gpuCount"], args["vramGb"]) == (2, 80)
    assert "0x" + bytes(args["resultRoot"]).hex() == verdict.check.resultRoot != "0x" + "00" * 32
    assert _verified(world)


def _lazy(seed: int, n: int, gpus: int, devices: list[str]) -> Products:
    """Computes GPU 0's product honestly and commits zeros for the other GPU's rows (half the work)."""
    honest = compute_products(seed, n, 1, devices[:1])
    zeros = np.zeros((n, n), dtype=np.float32)
    products = [honest.products[0], *[zeros] * (gpus - 1)]
    leaves = [row_leaf(g * n + i, products[g][i]) for g in range(gpus) for i in range(n)]
    return Products(n, products, leaves, merkle_root(leaves), honest.compute_ms, "cpu")


def _wrong_seed(seed: int, n: int, gpus: int, devices: list[str]) -> Products:
    return compute_products(seed + 1000, n, gpus, devices)


@pytest.mark.parametrize(("compute", "reason"), [(_lazy, "row"), (_wrong_seed, "row")])
def test_wrong_or_lazy_worker_fails_and_the_failure_is_recorded(
    world: World, compute: Any, reason: str
) -> None:
    server = _server(world, compute)
    checker = _checker(world)
    try:
        time.sleep(1.1)
        world.net.anvil.rpc("evm_mine")  # a head a second later than the previous record's
        verdict, _ = checker.check_and_post(world.offer_id, f"http://127.0.0.1:{server.port}")
    finally:
        checker.close()
        server.stop()
    assert verdict.problem is not None and reason in verdict.problem and not verdict.check.passed
    assert not _verified(world)
    registry = world.net.gs.hardware_registry
    assert registry is not None
    assert registry.functions.latestCheck(world.offer_id).call()[0] == verdict.check.checkedAt


def test_slow_worker_fails_the_time_band(world: World) -> None:
    def slow(seed: int, n: int, gpus: int, devices: list[str]) -> Products:
        time.sleep(1.5)
        return compute_products(seed, n, gpus, devices)

    server = _server(world, slow)
    checker = _checker(world, replace(SETTINGS, fixed_s=0.5, per_melement_s=0.0))
    try:
        verdict = checker.challenge(world.offer_id, f"http://127.0.0.1:{server.port}")
    finally:
        checker.close()
        server.stop()
    assert verdict.problem is not None and "more than the" in verdict.problem and "H100" in verdict.problem
    assert not verdict.check.passed and verdict.check.elapsedMs >= 1500


def test_only_the_oracle_set_may_challenge(world: World) -> None:
    server = _server(world)
    stranger = Account.create()
    checker = _checker(world, account=stranger)
    try:
        verdict = checker.challenge(world.offer_id, f"http://127.0.0.1:{server.port}")
    finally:
        checker.close()
        server.stop()
    assert (
        verdict.problem is not None and "HTTP 403" in verdict.problem and "not an oracle" in verdict.problem
    )


def test_no_worker_answering_is_a_failed_check(world: World) -> None:
    checker = _checker(world)
    try:
        verdict = checker.challenge(world.offer_id, f"http://127.0.0.1:{free_port()}")
    finally:
        checker.close()
    assert verdict.problem is not None and "no answer" in verdict.problem
    assert verdict.check.resultRoot == "0x" + "00" * 32


def test_oracle_check_hardware_command(world: World) -> None:
    """`gpusettle oracle check-hardware` as a process: the verdict as JSON, recorded on-chain."""
    import json
    import subprocess
    import sys

    server = _server(world)
    time.sleep(1.1)
    world.net.anvil.rpc("evm_mine")
    assert world.net.record_path is not None
    base = [
        sys.executable, "-m", "gpusettle.oracle", "check-hardware", str(world.offer_id),
        "--worker-url", f"http://127.0.0.1:{server.port}", "--scale", "0.0004",
        "--rpc-url", world.net.anvil.url, "--deployment", str(world.net.record_path),
        "--keystore", str(world.net.keystore_dir), "--account", "oracle", "--json",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            base, check=False, env=world.net.child_env(), capture_output=True, text=True, timeout=120
        )
        bad = subprocess.run(
            [*base[:6], "ftp://nowhere", *base[7:]], check=False, env=world.net.child_env(), capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["passed"] is True and out["problem"] is None and out["n"] == 32 and out["txHash"]
    registry = world.net.gs.hardware_registry
    assert registry is not None
    assert registry.functions.latestCheck(world.offer_id).call()[0] == out["checkedAt"]
    assert _verified(world)
    assert (
        bad.returncode == 1 and "error: --worker-url 'ftp://nowhere'" in bad.stderr and "hint:" in bad.stderr
    )


def test_a_worker_process_answers_the_oracle_command(world: World, tmp_path: Any) -> None:
    """Real processes: `gpusettle worker run --probe-port` (its own oracle-set auth, CPU slots) challenged by
    `gpusettle oracle check-hardware`."""
    import json
    import socket
    import subprocess
    import sys

    from gpusettle.devnet.processes import ManagedProcess

    assert world.net.record_path is not None
    port = free_port()
    common = [
        "--rpc-url", world.net.anvil.url, "--deployment", str(world.net.record_path),
        "--keystore", str(world.net.keystore_dir),
    ]  # fmt: skip
    worker = ManagedProcess(
        "worker",
        [
            sys.executable,
            "-m",
            "gpusettle.worker",
            "run",
            *common,
            "--account",
            "worker",
            "--provider",
            world.provider.address,
            "--oracle-url",
            f"http://127.0.0.1:{free_port()}",
            "--data-dir",
            str(tmp_path / "worker"),
            "--probe-port",
            str(port),
            "--dev-gpu-slots",
            "2",
            "--poll-interval",
            "0.3",
        ],
        tmp_path / "worker.log",
        world.net.child_env(),
    )
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
                time.sleep(0.3)
        time.sleep(1.1)
        world.net.anvil.rpc("evm_mine")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "gpusettle.oracle",
                "check-hardware",
                str(world.offer_id),
                "--worker-url",
                f"http://127.0.0.1:{port}",
                "--scale",
                "0.0004",
                *common,
                "--account",
                "oracle",
                "--json",
            ],
            check=False,
            env=world.net.child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        worker.stop()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["passed"] is True and out["txHash"], out
    assert _verified(world)


def _new_offer(world: World, name: str) -> tuple[LocalAccount, int]:
    """A provider of its own with a fresh offer (no hardware check recorded yet)."""
    net = world.net
    keys = net.new_accounts([name, f"{name}-worker"], eth=10)
    net.fund_tokens({keys[name].address: 60_000 * E18})
    offer = net.setup_provider(
        keys[name],
        keys[f"{name}-worker"].address,
        stake=50_000 * E18,
        gpu_model="NVIDIA H100 80GB HBM3",
        gpu_count=2,
        vram_gb=80,
        price=10**15,
    )
    return keys[name], offer


def test_the_scheduler_checks_a_new_offer_then_again_at_the_drawn_time(world: World) -> None:
    """The real scheduler, chain reads, challenge and recording against anvil and the worker's endpoint: the
    new offer is checked and recorded at once (onboarding draw 0), the other providers' offers are left alone,
    and the re-check comes at the exponential draw (0.5 x 60 s), this time failing and recorded as failed."""
    from gpusettle.oracle.hardware import record_check
    from gpusettle.oracle.hardware_schedule import HardwareSchedule, HardwareScheduler
    from gpusettle.oracle.metrics import OracleMetrics
    from tests.oracle.helpers import Draws

    provider, offer = _new_offer(world, "scheduled")
    honest = [True]

    def compute(seed: int, n: int, gpus: int, devices: list[str]) -> Products:
        return (compute_products if honest[0] else _wrong_seed)(seed, n, gpus, devices)

    server = _server(world, compute)
    checker = _checker(world)
    gs = world.net.gs
    registry = gs.hardware_registry
    assert registry is not None
    now = [time.time()]
    scheduler = HardwareScheduler(
        chain=gs,
        challenge=checker.challenge,
        record=lambda check: record_check(gs, world.oracle, check),
        worker_urls={provider.address: f"http://127.0.0.1:{server.port}"},
        settings=HardwareSchedule(every=60.0, onboard_within=60.0, scan_every=1000.0, retry_after=30.0),
        metrics=OracleMetrics(),
        clock=lambda: now[0],
        rng=Draws(expo=[0.5, 1.0], uniform=[0.0]),
    )
    try:
        assert scheduler.step() is True  # the scan finds every offer; only this provider's is checked
        assert list(scheduler.last) == [offer] and scheduler.last[offer].passed
        assert scheduler.post_once() is True
        first = registry.functions.latestCheck(offer).call()
        assert (first[0], first[1]) == (scheduler.last[offer].checkedAt, True)
        assert gs.is_verified(offer) is True
        assert registry.functions.latestCheck(world.offer_id).call()[0] != first[0]

        honest[0] = False
        now[0] += 29
        assert scheduler.step() is False  # due 30 s after the first check
        time.sleep(1.1)
        world.net.anvil.rpc("evm_mine")
        now[0] += 1
        assert scheduler.step() is True
        assert scheduler.post_once() is True
    finally:
        checker.close()
        server.stop()
    second = registry.functions.latestCheck(offer).call()
    assert second[0] > first[0] and second[1] is False
    assert gs.is_verified(offer) is False
    assert (
        scheduler.metrics.registry.get_sample_value("gpusettle_oracle_hardware_passed", {"offer": str(offer)})
        == 0
    )


def test_oracle_run_checks_a_new_offer_on_its_own(world: World, tmp_path: Any) -> None:
    """`gpusettle oracle run --worker-url P=URL --hardware-every ...` as a process: the new offer's check lands in
    the registry with nobody asking, its metrics say so, and the offers of providers without a URL are named
    once in the log."""
    import sys

    import httpx

    from gpusettle.devnet.processes import ManagedProcess

    provider, offer = _new_offer(world, "daemon")
    server = _server(world)
    registry = world.net.gs.hardware_registry
    assert registry is not None and world.net.record_path is not None
    port = free_port()
    log_path = tmp_path / "oracle.log"
    oracle = ManagedProcess(
        "oracle",
        [
            sys.executable, "-m", "gpusettle.oracle", "run",
            "--rpc-url", world.net.anvil.url, "--deployment", str(world.net.record_path),
            "--keystore", str(world.net.keystore_dir), "--account", "oracle",
            "--data-dir", str(tmp_path / "oracle"), "--port", str(port),
            "--worker-url", f"{provider.address}=http://127.0.0.1:{server.port}",
            "--hardware-every", "5", "--hardware-scale", "0.0004", "--lease-scan-every", "0.5",
        ],
        log_path,
        world.net.child_env(),
    )  # fmt: skip
    oracle.start()
    try:
        deadline = time.monotonic() + 90
        while registry.functions.latestCheck(offer).call()[0] == 0:
            assert oracle.alive() and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.3)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        oracle.stop()
        server.stop()
    text = log_path.read_text()
    assert registry.functions.latestCheck(offer).call()[1] is True, text[-3000:]
    assert world.net.gs.is_verified(offer) is True
    assert f'gpusettle_oracle_hardware_passed{{offer="{offer}"}} 1.0' in metrics
    assert text.count(f"offer {world.offer_id}: its provider") == 1, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
