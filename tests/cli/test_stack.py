"""Issue 10 through the real CLI with a real oracle and worker (`gpusettle oracle run`, `gpusettle worker
run` as processes) on this module's anvil: earnings and fees withdrawn, specs published after the fact,
the oracle's key checked against the on-chain set, the port bound before "serving", options validated at
parse time, the worker's gas and hardware checked at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result

from gpusettle.devnet import Anvil, ManagedProcess, free_port
from gpusettle.models import JobSpec
from tests.cli.runner import Cli

PW = "stack pw"
E18 = 10**18
ROOT = Path(__file__).resolve().parents[2]


class Daemon(ManagedProcess):
    """A `gpusettle ...` process with its output in a file, started at once (in the checkout)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__(name, [sys.executable, "-m", "gpusettle.cli", *argv], log, env)
        self.start(cwd=ROOT)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")


def _env(gs: Cli, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUSETTLE_")}
    env.update(gs.env)
    env.update({"GPUSETTLE_PASSWORD": PW, "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def _run(gs: Cli, *argv: str, timeout: float = 90, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpusettle.cli", *argv],
        env=_env(gs, **extra),
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _wait_for(what: str, predicate: Any, timeout: float, *daemons: Daemon) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for d in daemons:
            if not d.alive():
                raise AssertionError(f"{d.name} exited while waiting for {what}:\n{d.text()}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(d.text()[-3000:] for d in daemons))


def _signed(alias: str) -> tuple[str, ...]:
    return ("-a", alias, "-y")


@pytest.fixture(scope="module")
def stack(gs: Cli, anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Deployed by dev:0 (the oracle), provider `prov` with a CPU offer for this machine and a 4 x H100
    offer, its worker key `wkr`, client `cli`; an oracle (dev:0) and a worker running."""
    oracle_port = free_port()
    oracle_url = f"http://127.0.0.1:{oracle_port}"
    gs.env.update({"GPUSETTLE_PASSWORD": PW, "GPUSETTLE_ORACLE_URL": oracle_url})
    addrs = {}
    for alias in ("prov", "wkr", "cli", "broke"):
        addrs[alias] = gs.json("wallet", "new", alias)["address"]
    gs("deploy", "--account", "dev:0", "--yes")
    gs("dev", "fund", "prov", "--eth", "10", "--tokens", "5000", "--yes")
    gs("dev", "fund", "cli", "--eth", "10", "--tokens", "1000", "--yes")
    gs("dev", "fund", "wkr", "--eth", "1", "--yes")
    gs("provider", "stake", "1000", *_signed("prov"))
    gs("provider", "set-worker", "wkr", *_signed("prov"))
    cpu = gs.json("provider", "offer", "add", "--this-machine", "--price", "0.001/s", *_signed("prov"))
    h100 = gs.json(
        "provider",
        "offer",
        "add",
        "--gpu-model",
        "NVIDIA H100 80GB HBM3",
        "--gpu-count",
        "4",
        "--vram",
        "80",
        "--price",
        "0.002/s",
        *_signed("prov"),
    )
    logs = tmp_path_factory.mktemp("daemons")
    env = _env(gs)
    # `deploy` made dev:0 the oracle; the oracle takes that alias like every other command.
    oracle = Daemon(
        "oracle",
        ["oracle", "run", "--account", "dev:0", "--port", str(oracle_port), "--batch-wait", "0.1"],
        env,
        logs / "oracle.log",
    )
    daemons = [oracle]
    try:
        _wait_for("the oracle", lambda: _answers(oracle_url + "/health"), 90, oracle)
        # --provider takes an alias too.
        worker = Daemon(
            "worker",
            ["worker", "run", "--account", "wkr", "--provider", "prov", "--poll-interval", "0.3"],
            env,
            logs / "worker.log",
        )
        daemons.append(worker)
        _wait_for("the worker", lambda: "serving provider" in worker.text(), 90, worker)
        yield {
            "addrs": addrs,
            "cpu_offer": int(cpu["offer_id"]),
            "h100_offer": int(h100["offer_id"]),
            "oracle": oracle,
            "worker": worker,
            "oracle_url": oracle_url,
            "oracle_port": oracle_port,
        }
    finally:
        for d in reversed(daemons):
            d.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _spec_file(tmp_path: Path, seed: int) -> Path:
    spec = JobSpec.model_validate({"workload": {"kind": "matmul", "seed": seed, "n": 32, "repetitions": 1}})
    path = tmp_path / f"job-{seed}.json"
    path.write_bytes(spec.canonical_json())
    return path


def _status(gs: Cli, job_id: int) -> dict[str, Any]:
    result: dict[str, Any] = gs.json("job", "status", str(job_id))
    return result


def test_worker_refuses_an_offer_this_machine_cannot_honour(gs: Cli, stack: dict[str, Any]) -> None:
    worker: Daemon = stack["worker"]
    h100 = stack["h100_offer"]
    assert f"refusing offer {h100}: offer {h100} promises 4 x NVIDIA H100 80GB HBM3" in worker.text()
    assert f"serving offer {stack['cpu_offer']}" in worker.text()
    status = gs("provider", "status", "prov").stdout
    assert f"REFUSES offer {h100}: offer {h100} promises 4 x NVIDIA H100" in status
    assert "this machine has no GPU" in status
    # A job on the refused offer is declined (the client gets the deposit back), never run and billed.
    before = int(gs.json("token", "balance", "cli")["balance"])
    created = gs.json(
        "job",
        "create",
        "--offer",
        str(h100),
        "--gpu-seconds",
        "100",
        "--spec-hash",
        "0x" + "cd" * 32,
        *_signed("cli"),
    )
    job_id = int(created["job_id"])
    _wait_for("the decline", lambda: _status(gs, job_id)["status"] == "Cancelled", 60, worker)
    assert f"job {job_id}: declining: offer {h100} promises 4 x NVIDIA H100" in worker.text()
    assert int(gs.json("token", "balance", "cli")["balance"]) == before


def _create_cpu_job(gs: Cli, stack: dict[str, Any], spec: Path, *extra: str) -> tuple[Result, int]:
    """`cli` opens a 600 GPU-second job on the CPU offer with `spec`; the output and the job id. The offer has
    one GPU: an earlier test's settled job holds it until the worker gives it back (releaseJobGpus), and
    `job create` refuses an offer with no free GPU before it sends anything, so wait for that first."""
    offer = str(stack["cpu_offer"])
    _wait_for(
        "the worker to give the CPU offer's GPU back",
        lambda: int(gs.json("provider", "offer", "availability", offer)["free_gpus"]) >= 1,
        120,
        stack["worker"],
    )
    out = gs(
        "job", "create", "--offer", str(stack["cpu_offer"]), "--gpu-seconds", "600", "--spec", str(spec),
        *extra, *_signed("cli"),
    )  # fmt: skip
    return out, int(out.stdout.split("job ")[1].split(" ")[0])


def test_a_job_settles_and_both_withdrawals_are_distinct_commands(
    gs: Cli, stack: dict[str, Any], tmp_path: Path
) -> None:
    spec = _spec_file(tmp_path, 11)
    out, job_id = _create_cpu_job(gs, stack, spec)
    assert f"published to {stack['oracle_url']}" in out.stdout
    assert "price       0.001 GPUC per GPU-second, 1 GPU(s)" in out.stderr  # the limits the client agrees to
    _wait_for("the settlement", lambda: _status(gs, job_id)["status"] == "Settled", 120, stack["worker"])
    result = gs("job", "results", str(job_id), "--out", str(tmp_path / "result.bin"))
    assert "matches the chain" in result.stdout and (tmp_path / "result.bin").stat().st_size > 0
    # --oracle-url at some other server (here the chain's node) is "not an oracle", not "no result".
    node = gs.env["GPUSETTLE_DEV_RPC_URL"]
    wrong = gs("job", "results", str(job_id), "--oracle-url", node, ok=False)
    assert f"error: {node} is not an oracle" in wrong.stderr, wrong.stderr
    assert "--oracle-url" in wrong.stderr.split("hint:")[1] and "failed job" not in wrong.stderr
    st = gs.json("provider", "status", "prov")
    earnings = int(st["earnings"])
    assert earnings > 0 and isinstance(st["earnings"], str) and isinstance(st["bonded"], str)
    human = gs("provider", "status", "prov").stdout
    assert "(withdraw with `gpusettle provider withdraw-earnings`)" in human
    # `provider withdraw` no longer silently means the stake: it says which is which.
    which = gs("provider", "withdraw", *_signed("prov"), ok=False)
    assert "withdraw-earnings" in which.stderr and "withdraw-stake" in which.stderr
    tokens = int(gs.json("token", "balance", "prov")["balance"])
    done = gs.json("provider", "withdraw-earnings", *_signed("prov"))
    assert int(done["withdrawn"]) == earnings
    assert int(gs.json("token", "balance", "prov")["balance"]) == tokens + earnings
    assert int(gs.json("provider", "status", "prov")["earnings"]) == 0
    again = gs("provider", "withdraw-earnings", *_signed("prov"), ok=False)
    assert "has no earnings to withdraw" in again.stderr
    # The treasury's fees: anyone may send them to the treasury (dev:0 here).
    treasury = gs.json("admin", "params", "show")["roles"]["treasury"]
    t_before = int(gs.json("token", "balance", treasury)["balance"])
    fees = gs.json("admin", "withdraw-fees", *_signed("cli"))
    assert int(fees["fees"]) > 0 and fees["treasury"] == treasury
    assert int(gs.json("token", "balance", treasury)["balance"]) == t_before + int(fees["fees"])
    refund = gs.json("job", "claim-refund", str(job_id), *_signed("cli"))
    assert int(refund["refunded"]) > 0
    # After the refund the escrow keeps only what was billed as the job's maximum; the status still says what
    # the job was opened for.
    j = gs.json("job", "status", str(job_id))
    opened = int(j["deposit"]) // int(j["price_per_gpu_second"])
    assert opened > int(j["max_gpu_seconds"]) == int(j["billed_gpu_seconds"])
    human = gs("job", "status", str(job_id)).stdout
    assert f"up to {opened:,} GPU-seconds" in human, human
    gpus = int(j["gpu_count"])
    assert f"{gpus} GPU{'s' if gpus != 1 else ''})" in human, human


def test_a_spec_published_after_the_job_opens_gets_it_run(
    gs: Cli, stack: dict[str, Any], tmp_path: Path
) -> None:
    spec = _spec_file(tmp_path, 12)
    out, job_id = _create_cpu_job(gs, stack, spec, "--no-publish")
    assert "spec NOT published (--no-publish)" in out.stdout
    assert f"gpusettle job publish {job_id} --spec {spec}" in out.stdout
    worker: Daemon = stack["worker"]
    _wait_for("the worker's note", lambda: f"job {job_id}: waiting for its spec" in worker.text(), 60, worker)
    time.sleep(2)  # several polls later, still said once, with what to do
    assert worker.text().count(f"job {job_id}: waiting for its spec") == 1
    assert f"gpusettle job publish {job_id} --spec FILE" in worker.text()
    wrong = _spec_file(tmp_path, 13)
    bad = gs("job", "publish", str(job_id), "--spec", str(wrong), ok=False)
    assert f"but job {job_id} was opened for" in bad.stderr
    gs("job", "publish", str(job_id), "--spec", str(spec))
    _wait_for("the settlement", lambda: _status(gs, job_id)["status"] == "Settled", 120, worker)


def test_job_list_without_a_filter_lists_the_callers_jobs(gs: Cli, stack: dict[str, Any]) -> None:
    mine = gs.json("job", "list", "-a", "cli")["jobs"]
    assert mine and {j["client"] for j in mine} == {stack["addrs"]["cli"]}
    assert all(isinstance(j["deposit"], str) for j in mine)


def test_an_offer_price_above_the_cap_is_refused_in_tokens(gs: Cli, stack: dict[str, Any]) -> None:
    res = gs("provider", "offer", "add", "--this-machine", "--price", "100/s", *_signed("prov"), ok=False)
    # The cap (uint64 base units per GPU-second) is said in tokens, as the price was given, and per GPU-hour.
    assert "highest price an offer can carry: 18.446744073709551615 GPUC per GPU-second" in res.stderr
    assert "per GPU-hour" in res.stderr and "base units" not in res.stderr


def test_offers_are_listed_for_clients(gs: Cli, stack: dict[str, Any]) -> None:
    offers = gs.json("offer", "list")["offers"]
    assert [o["offer_id"] for o in offers] == [stack["cpu_offer"], stack["h100_offer"]]  # cheapest first
    h100 = gs.json("offer", "list", "--gpu-model", "h100", "--min-gpus", "4")["offers"]
    assert [o["offer_id"] for o in h100] == [stack["h100_offer"]]
    assert gs.json("offer", "list", "--max-price", "0.001/s")["offers"][0]["offer_id"] == stack["cpu_offer"]
    # The same price per GPU-hour: 3.6/h is 0.001/s.
    assert gs.json("offer", "list", "--max-price", "3.6/h") == gs.json(
        "offer", "list", "--max-price", "0.001/s"
    )
    # Every price shows both units.
    assert "GPUC/GPU-s (3.6 GPUC/GPU-h)" in gs("offer", "list", "--max-price", "0.001/s").output
    # A bare number is refused, as in `market offers` and `--match` (it once meant per GPU-second here
    # and per GPU-hour there), with the two spellings to choose from.
    bare = gs("offer", "list", "--max-price", "0.001", ok=False)
    assert bare.exit_code == 1 and "error: invalid price '0.001': it has no unit" in bare.output, bare.output
    assert "0.001/s" in bare.output and "0.001/h" in bare.output
    # The same rule for a provider's own price.
    refused = gs(
        "provider", "offer", "update", str(stack["cpu_offer"]), "--price", "0.002", *_signed("prov"), ok=False
    )
    assert "error: invalid price '0.002': it has no unit" in refused.output, refused.output
    assert int(gs.json("offer", "list")["offers"][0]["price_per_gpu_second"]) == 10**15  # unchanged


def test_oracle_key_outside_the_oracle_set_is_refused(gs: Cli, stack: dict[str, Any]) -> None:
    res = _run(gs, "oracle", "run", "--account", "cli", "--port", str(free_port()))
    assert res.returncode == 1, res.stderr
    assert "is not in the on-chain oracle set" in res.stderr and "--no-post" in res.stderr
    # `deploy` alone makes dev:0 the oracle; under `dev up` it is dev:1: the hint names both.
    assert "dev:0" in res.stderr and "dev:1" in res.stderr and "dev up" in res.stderr
    assert "serving" not in res.stderr and "Traceback" not in res.stderr


def test_oracle_port_in_use_is_one_clear_line_before_serving(gs: Cli, stack: dict[str, Any]) -> None:
    res = _run(
        gs,
        "oracle",
        "run",
        "--account",
        "dev:0",
        "--port",
        str(stack["oracle_port"]),
        "--data-dir",
        str(gs.home / "oracle-2"),
    )
    assert res.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{stack['oracle_port']}: Address already in use" in res.stderr
    assert "hint: another process uses that port" in res.stderr
    assert "serving" not in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["oracle", "run", "--account", "dev:0", "--port", "99999"], "99999 is not in the range 1<=x<=65535"),
        (["worker", "run", "--account", "wkr", "--provider", "not an address"], "is neither an address"),
        (["worker", "run", "--account", "wkr", "--provider", "prov", "--device", "gpu7"], "is not a device"),
        (
            ["worker", "run", "--account", "wkr", "--provider", "prov", "--oracle-url", "localhost:1"],
            "is not an http(s) URL",
        ),
    ],
)
def test_daemon_options_are_checked_at_parse_time(
    gs: Cli, stack: dict[str, Any], argv: list[str], expected: str
) -> None:
    res = _run(gs, *argv, timeout=60)
    assert res.returncode == 2, res.stderr
    assert expected in res.stderr and "hint: see `" in res.stderr
    assert "this is a bug" not in res.stderr and "Traceback" not in res.stderr


def test_worker_provider_with_a_bad_checksum_is_refused_at_parse_time(gs: Cli, stack: dict[str, Any]) -> None:
    good = stack["addrs"]["prov"]
    i = next(i for i, ch in enumerate(good) if i > 1 and ch.isalpha())
    bad = good[:i] + good[i].swapcase() + good[i + 1 :]
    res = _run(gs, "worker", "run", "--account", "wkr", "--provider", bad, timeout=60)
    assert res.returncode == 2
    assert f"{bad} has a wrong EIP-55 checksum (expected {good})" in res.stderr
    assert "it is None" not in res.stderr


def test_unfunded_worker_key_is_one_line_with_what_to_do(gs: Cli, stack: dict[str, Any]) -> None:
    broke = stack["addrs"]["broke"]
    res = _run(gs, "worker", "run", "--account", "broke", "--provider", "prov", timeout=60)
    assert res.returncode == 1
    assert f"error: the worker key {broke} has 0 ETH but needs about" in res.stderr
    assert f"hint: fund it (`gpusettle dev fund {broke} --eth 1` on a local chain" in res.stderr
    assert "Traceback" not in res.stderr


def test_root_options_reach_the_daemons(gs: Cli, stack: dict[str, Any]) -> None:
    """`gpusettle --rpc-url X worker run` used to ignore the root option."""
    dead = free_port()
    res = _run(
        gs,
        "--rpc-url",
        f"http://127.0.0.1:{dead}",
        "worker",
        "run",
        "--account",
        "wkr",
        "--provider",
        "prov",
        timeout=60,
    )
    assert res.returncode == 1
    assert f"cannot reach the RPC endpoint http://127.0.0.1:{dead}" in res.stderr


def test_worker_on_development_is_not_refused(gs: Cli, stack: dict[str, Any]) -> None:
    """`worker run --network development` was refused; now it is the default network and takes the same
    settings (the run below fails later, on purpose: an unknown account)."""
    res = _run(gs, "worker", "run", "--network", "development", "--account", "ghost", "--provider", "prov")
    assert "error: no account named 'ghost'" in res.stderr


def test_worker_status_file_is_json(gs: Cli, stack: dict[str, Any]) -> None:
    data = json.loads((gs.home / "workers" / "wkr" / "status.json").read_text())
    assert data["provider"] == stack["addrs"]["prov"] and str(stack["h100_offer"]) in data["refused_offers"]


def test_worker_that_runs_out_of_gas_says_what_to_do_once(
    gs: Cli, stack: dict[str, Any], anvil: Anvil, tmp_path: Path
) -> None:
    """It printed a full traceback every 3 s (`InsufficientFundsError: ... has 0 ETH`)."""
    worker: Daemon = stack["worker"]
    wkr = stack["addrs"]["wkr"]
    balance = int(anvil.call("eth_getBalance", wkr, "latest"), 16)
    anvil.set_balance(wkr, 0)
    try:
        spec = _spec_file(tmp_path, 21)
        out = gs.json(
            "job",
            "create",
            "--offer",
            str(stack["cpu_offer"]),
            "--gpu-seconds",
            "600",
            "--spec",
            str(spec),
            *_signed("cli"),
        )
        job_id = int(out["job_id"])
        line = f"the worker key {wkr} has 0 ETH but needs about"
        _wait_for("the worker's gas message", lambda: line in worker.text(), 60, worker)
        time.sleep(5)  # several failed attempts later
        assert worker.text().count(line) == 1
        assert f"fund it (`gpusettle dev fund {wkr} --eth 1`" in worker.text()
        assert "Traceback" not in worker.text()
    finally:
        anvil.set_balance(wkr, balance)
    _wait_for("the settlement", lambda: _status(gs, job_id)["status"] == "Settled", 120, worker)
