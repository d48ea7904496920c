"""End to end through the real CLI against anvil: deploy, fund, stake, offer, jobs, unstake, admin,
and every error a person can act on, each provoked once with its message asserted."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from gpusettle.devnet import Anvil
from gpusettle.models import JobSpec
from gpusettle.worker.specstore import open_spec_store
from tests.cli.runner import Cli

PW = "correct horse"
SPEC = "0x" + "ab" * 32
E18 = 10**18
UNBONDING = 7 * 24 * 3600


def _pw(gs: Cli) -> str:
    return gs.password_file("main", PW)


def _create(offer_id: int, gpu_seconds: int) -> tuple[str, ...]:
    """`job create` on the offer for up to `gpu_seconds`; the caller adds the spec and payment options."""
    return ("job", "create", "--offer", str(offer_id), "--gpu-seconds", str(gpu_seconds))


def _signed(gs: Cli, alias: str) -> tuple[str, ...]:
    """The options for sending as `alias` without a prompt: account, password file, --yes."""
    return ("-a", alias, "--password-file", _pw(gs), "-y")


@pytest.fixture(scope="module")
def suite(gs: Cli, anvil: Anvil) -> dict[str, str]:
    """Wallets prov, client, worker, poor; the suite deployed by dev:0; prov and client funded."""
    addrs = {}
    for alias in ("prov", "client", "worker", "poor"):
        out = gs.json("wallet", "new", alias, env={"GPUSETTLE_PASSWORD": PW})
        addrs[alias] = out["address"]
    dep = gs("deploy", "--account", "dev:0", "--yes")
    assert "estimated" in dep.stderr and "complete: record written" in dep.stderr
    for alias in ("prov", "client"):
        gs("dev", "fund", alias, "--eth", "10", "--tokens", "5000", "--yes")
    funded = gs("dev", "fund", "poor", "--eth", "1", "--yes")
    assert funded.stderr.count("send 1 ETH to") == 1, funded.stderr  # the plan is shown once
    return addrs


@pytest.fixture(scope="module")
def offer_id(gs: Cli, suite: dict[str, str]) -> int:
    """prov staked 1000 (approve path), named its worker and published one 4-GPU offer."""
    out = gs("provider", "stake", "1000", *_signed(gs, "prov"))
    assert "approving 1000 GPUC first" in out.stderr
    assert "estimated gas" in out.stderr and "sent 0x" in out.stderr
    gs("provider", "set-worker", "worker", *_signed(gs, "prov"))
    res = gs.json(
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
        "0.001/s",
        "--metadata-uri",
        "ipfs://offer",
        *_signed(gs, "prov"),
    )
    return int(res["offer_id"])


@pytest.fixture(autouse=True)
def offer_freed(request: pytest.FixtureRequest) -> Iterator[None]:
    """`job create` reserves all of the offer's GPUs and the offer holds one such job at a time: after a
    test that used the offer, cancel the client's jobs still Open on it, so the next test's job fits."""
    yield
    if "offer_id" not in request.fixturenames:
        return
    gs, anvil = request.getfixturevalue("gs"), request.getfixturevalue("anvil")
    offer_id = request.getfixturevalue("offer_id")
    client = _client(gs, anvil)
    still_open = [
        j
        for j in range(1, client.job_count() + 1)
        if client.job(j).offer_id == offer_id and client.job(j).status == "Open"
    ]
    if still_open:
        owner = _unlock(gs, "client")
        for job_id in still_open:
            client.send(client.plan_cancel_job(owner.address, job_id), owner)


def test_deploy_record_and_rerun_deploys_nothing(gs: Cli, suite: dict[str, str], anvil: Anvil) -> None:
    record = json.loads((gs.home / "deployments" / "31337.json").read_text())
    assert record["complete"] is True
    assert set(record["addresses"]) == {"token", "staking", "escrow", "leaseEscrow", "hardwareRegistry"}
    assert record["compiler_version"].startswith("0.8.")
    nonce = anvil.nonce(anvil.call("eth_accounts")[0])
    again = gs("deploy", "--account", "dev:0", "--yes")
    assert "nothing to deploy" in again.stderr
    assert (
        "code hashes of ComputeToken, ProviderStaking, JobEscrow, LeaseEscrow, HardwareRegistry match"
        in again.stderr
    )
    assert anvil.nonce(anvil.call("eth_accounts")[0]) == nonce


def test_provider_status_and_offers(gs: Cli, suite: dict[str, str], offer_id: int) -> None:
    st = gs.json("provider", "status", "prov")
    assert int(st["bonded"]) == 1000 * E18 and int(st["free"]) == 1000 * E18
    assert st["worker"] == suite["worker"] and st["jailed"] is False
    human = gs("provider", "status", "prov").stdout
    assert "bonded            1000 GPUC" in human and "free stake        1000 GPUC" in human
    offers = gs.json("provider", "offer", "list", "--provider", "prov")["offers"]
    assert [o["offer_id"] for o in offers] == [offer_id]
    gs(
        "provider",
        "offer",
        "update",
        str(offer_id),
        "--price",
        "0.002/s",
        *_signed(gs, "prov"),
    )
    assert gs.json("provider", "offer", "list", "--all")["offers"][0]["price_per_gpu_second"] == str(
        2 * 10**15
    )
    gs(
        "provider",
        "offer",
        "update",
        str(offer_id),
        "--price",
        "0.001/s",
        *_signed(gs, "prov"),
    )


def test_job_by_permit_status_list_cancel(
    gs: Cli, suite: dict[str, str], offer_id: int, anvil: Anvil
) -> None:
    before = int(gs.json("token", "balance", "client")["balance"])
    created = gs.json(
        *_create(offer_id, 3600),
        "--deadline",
        "2h",
        "--spec-hash",
        SPEC,
        "--permit",
        *_signed(gs, "client"),
    )
    job_id = created["job_id"]
    assert int(created["deposit"]) == 3600 * 10**15
    # One transaction only: no approve was sent.
    assert anvil.nonce(suite["client"]) == 1
    st = gs.json("job", "status", str(job_id))
    assert st["status"] == "Open" and st["client"] == suite["client"] and st["provider"] == suite["prov"]
    assert int(gs.json("token", "balance", "client")["balance"]) == before - 3600 * 10**15
    human = gs("job", "status", str(job_id)).stdout
    assert f"job {job_id}: Open" in human and "accept by" in human
    mine = gs.json("job", "list", "--mine", "-a", "client")["jobs"]
    assert job_id in [j["job_id"] for j in mine]
    theirs = gs.json("job", "list", "--provider", "prov")["jobs"]
    assert job_id in [j["job_id"] for j in theirs]
    # 20% of the deposit is locked from the provider's stake as collateral.
    assert int(gs.json("provider", "status", "prov")["locked_collateral"]) == 720 * 10**15
    out = gs("job", "cancel", str(job_id), *_signed(gs, "client"))
    assert "3.6 GPUC refunded" in out.stdout
    assert int(gs.json("token", "balance", "client")["balance"]) == before
    assert gs.json("job", "status", str(job_id))["status"] == "Cancelled"
    # The contract's custom error, in words, when the job cannot be cancelled twice.
    again = gs("job", "cancel", str(job_id), *_signed(gs, "client"), ok=False)
    assert f"JobEscrowWrongStatus(jobId={job_id}, status=Cancelled, expected=Open)" in again.stderr
    assert "hint: see the job's status (`gpusettle job status JOB_ID`)" in again.stderr


def test_job_by_approve(gs: Cli, suite: dict[str, str], offer_id: int) -> None:
    out = gs(
        *_create(offer_id, 100),
        "--spec-hash",
        SPEC,
        *_signed(gs, "client"),
    )
    assert "approving the deposit first" in out.stderr
    assert "created: deposit 0.1 GPUC" in out.stdout


def test_job_gpus_takes_part_of_the_offer(
    gs: Cli, suite: dict[str, str], offer_id: int, anvil: Anvil, tmp_path: Path
) -> None:
    """`--gpus N` reserves N of the offer's 4 GPUs on-chain; too many or 0 is refused before anything is
    sent, the default is still the whole offer, and `--match` picks only offers with N free."""
    client = _client(gs, anvil)
    before = client.job_count()
    out = gs(*_create(offer_id, 100), "--gpus", "1", "--spec-hash", SPEC, *_signed(gs, "client"))
    assert f"job on offer {offer_id}: 1 of 4 x NVIDIA H100 80GB HBM3" in out.stderr
    assert "1 GPU(s)" in out.stderr and "100 GPU-seconds (0.03 h of wall time)" in out.stderr
    assert client.job(before + 1).gpu_count == 1 and client.free_gpus(offer_id) == 3
    nonce = anvil.nonce(suite["client"])
    refused = {
        n: gs(*_create(offer_id, 100), *n, "--spec-hash", SPEC, *_signed(gs, "client"), ok=False).stderr
        for n in (("--gpus", "4"), ("--gpus", "0"), ())
    }
    assert f"error: offer {offer_id} has 3 of 4 GPUs free; the job asks for 4" in refused[("--gpus", "4")]
    assert "hint: ask for fewer with --gpus 3 (or less)" in refused[("--gpus", "4")]
    assert "error: --gpus 0: a job reserves 1 to 255 of the offer's GPUs" in refused[("--gpus", "0")]
    assert "hint: give --gpus N with N at least 1" in refused[("--gpus", "0")]
    assert f"error: offer {offer_id} has 3 of 4 GPUs free; the job asks for 4" in refused[()]  # the default
    assert anvil.nonce(suite["client"]) == nonce and client.job_count() == before + 1

    db = tmp_path / "index.db"
    gs("index", "run", "--db", str(db), "--once")
    match = ("job", "create", "--match", "gpu=H100", "--index", str(db), "--gpu-seconds", "100")
    res = gs(*match, "--gpus", "4", "--spec-hash", SPEC, *_signed(gs, "client"), ok=False)
    assert "error: no active offer with 4 free GPU(s) fits --match 'gpu=H100'" in res.stderr
    matched = gs.json(*match, "--gpus", "3", "--spec-hash", SPEC, *_signed(gs, "client"))
    assert matched["gpu_count"] == 3 and client.job(matched["job_id"]).gpu_count == 3
    # The index (not run again) still shows 3 free: the on-chain check says the GPUs are gone.
    lost = gs(*match, "--gpus", "1", "--spec-hash", SPEC, *_signed(gs, "client"), ok=False)
    assert f"lost the race for offer {offer_id} (offer {offer_id} has 0 of 4 GPUs free" in lost.stderr
    assert "none of the 1 matching offers could take the job" in lost.stderr
    gs("index", "run", "--db", str(db), "--once")
    res = gs(*match, "--gpus", "1", "--spec-hash", SPEC, *_signed(gs, "client"), ok=False)
    assert "no active offer with 1 free GPU(s) fits" in res.stderr
    assert client.job_count() == before + 2


def test_job_from_a_spec_file_is_published_for_the_worker(
    gs: Cli, suite: dict[str, str], offer_id: int, tmp_path: Path
) -> None:
    spec = JobSpec.model_validate({"workload": {"kind": "matmul", "seed": 7, "n": 64, "repetitions": 2}})
    spec_file = tmp_path / "job.json"
    spec_file.write_bytes(spec.canonical_json())
    store = tmp_path / "specs"
    store.mkdir()
    created = gs.json(
        *_create(offer_id, 100),
        "--spec",
        str(spec_file),
        "--publish",
        str(store),
        *_signed(gs, "client"),
    )
    # The on-chain hash is the spec's hash, and the worker's spec store now serves exactly that spec.
    assert gs.json("job", "status", str(created["job_id"]))["spec_hash"] == spec.spec_hash()
    assert open_spec_store(str(store)).fetch(spec.spec_hash()) == spec
    res = gs(
        *_create(offer_id, 100),
        "--spec-hash",
        SPEC,
        "--publish",
        str(store),
        *_signed(gs, "client"),
        ok=False,
    )
    assert "--publish needs --spec" in res.stderr


def test_insufficient_balance(gs: Cli, suite: dict[str, str], offer_id: int) -> None:
    res = gs(
        *_create(offer_id, 3600),
        "--spec-hash",
        SPEC,
        *_signed(gs, "poor"),
        ok=False,
    )
    assert f"error: {suite['poor']} has 0 GPUC but needs 3.6" in res.stderr


def test_insufficient_allowance(gs: Cli, suite: dict[str, str], offer_id: int) -> None:
    res = gs(
        *_create(offer_id, 3600),
        "--spec-hash",
        SPEC,
        "--no-approve",
        *_signed(gs, "client"),
        ok=False,
    )
    assert "to take 0 GPUC but the operation needs 3.6" in res.stderr, res.stderr


def test_too_many_decimals(gs: Cli, suite: dict[str, str]) -> None:
    res = gs(
        "token",
        "transfer",
        "1.0000000000000000001",
        "prov",
        *_signed(gs, "client"),
        ok=False,
    )
    assert "it has 19 decimal places but the token has only 18" in res.stderr


def test_bad_checksum(gs: Cli, suite: dict[str, str]) -> None:
    good = suite["prov"]
    # Flip the case of one letter only, so it stays mixed case with a wrong checksum.
    i = next(i for i, ch in enumerate(good) if i > 1 and ch.isalpha())
    bad = good[:i] + good[i].swapcase() + good[i + 1 :]
    res = gs("token", "transfer", "1", bad, *_signed(gs, "client"), ok=False)
    assert f"{bad} has a wrong EIP-55 checksum (expected {good})" in res.stderr


def test_unknown_network(gs: Cli) -> None:
    res = gs("token", "balance", "0x" + "00" * 20, "--network", "mainnet", ok=False)
    assert "error: unknown network 'mainnet'" in res.stderr and "sepolia" in res.stderr


def test_rpc_unreachable(gs: Cli) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = gs("token", "balance", "0x" + "00" * 20, "--rpc-url", f"http://127.0.0.1:{port}", ok=False)
    assert f"error: cannot reach the RPC endpoint http://127.0.0.1:{port}" in res.stderr


def test_wrong_chain_for_network(gs: Cli, anvil: Anvil) -> None:
    res = gs("token", "balance", "0x" + "00" * 20, "--network", "sepolia", "--rpc-url", anvil.url, ok=False)
    assert "connected to chain id 31337 but expected chain id 11155111 for network 'sepolia'" in res.stderr


def test_wrong_chain_for_record(gs: Cli, suite: dict[str, str], tmp_path: Path) -> None:
    record = json.loads((gs.home / "deployments" / "31337.json").read_text())
    record["chain_id"] = 84532
    (tmp_path / "31337.json").write_text(json.dumps(record))
    res = gs("token", "balance", "prov", "--deployments-dir", str(tmp_path), ok=False)
    assert "connected to chain id 31337 but expected chain id 84532" in res.stderr


def test_wrong_password(gs: Cli, suite: dict[str, str]) -> None:
    bad = gs.password_file("bad", "not it")
    res = gs("provider", "stake", "1", "-a", "prov", "--password-file", bad, "-y", ok=False)
    assert "error: wrong password for account 'prov'" in res.stderr


def test_unknown_account(gs: Cli, suite: dict[str, str]) -> None:
    res = gs("provider", "stake", "1", "-a", "ghost", "-y", ok=False)
    assert "error: no account named 'ghost'" in res.stderr


def test_missing_record(gs: Cli, tmp_path: Path) -> None:
    res = gs("job", "status", "1", "--deployments-dir", str(tmp_path), ok=False)
    assert "no deployment record for network 'development'" in res.stderr and "gpusettle deploy" in res.stderr


def test_confirmation_refused_sends_nothing(gs: Cli, suite: dict[str, str], anvil: Anvil, tty: None) -> None:
    nonce = anvil.nonce(suite["client"])
    res = gs(
        "token", "transfer", "1", "prov", "-a", "client", "--password-file", _pw(gs), input="n\n", ok=False
    )
    assert "transfer 1 GPUC to" in res.stderr and "estimated gas" in res.stderr
    assert anvil.nonce(suite["client"]) == nonce


def test_transfer_json(gs: Cli, suite: dict[str, str]) -> None:
    out = gs.json("token", "transfer", "2.5", suite["prov"], *_signed(gs, "client"))
    assert out["tx"]["success"] is True and out["tx"]["tx_hash"].startswith("0x")
    assert [e["name"] for e in out["tx"]["events"]] == ["Transfer"]
    assert int(out["amount"]) == 25 * 10**17


def test_unstake_more_than_free_is_the_contract_error_in_words(gs: Cli, offer_id: int) -> None:
    res = gs("provider", "unstake", "5000", *_signed(gs, "prov"), ok=False)
    assert "ProviderStakingInsufficientFreeStake(" in res.stderr
    assert "requested=5000 GPUC" in res.stderr


def test_admin(gs: Cli, suite: dict[str, str], offer_id: int, anvil: Anvil) -> None:
    shown = gs.json("admin", "params", "show")
    assert shown["parameters"]["fee_bps"] == 250 and shown["paused"] is False
    gs("admin", "params", "set", "fee_bps", "100", "-a", "dev:0", "-y")
    assert gs.json("admin", "params", "show")["parameters"]["fee_bps"] == 100
    over = gs("admin", "params", "set", "fee_bps", "5000", "-a", "dev:0", "-y", ok=False)
    assert "JobEscrowParameterOutOfRange(param=0, value=5000, min=0, max=1000)" in over.stderr
    # Every JobParameter and LeaseParameter has a name: the last two of the job escrow's (not in its constructor)
    # and the lease escrow's (set for leases opened from then on).
    params = shown["parameters"]
    assert params["min_run_time"] == 600 and params["ruling_period"] == 14 * 86_400
    assert params["lease_grace"] == 600 and params["lease_fee_bps"] == 250
    gs("admin", "params", "set", "ruling_period", str(2 * 86_400), "-a", "dev:0", "-y")
    gs("admin", "params", "set", "lease_grace", "900", "-a", "dev:0", "-y")
    now = gs.json("admin", "params", "show")["parameters"]
    assert (now["ruling_period"], now["lease_grace"], now["min_run_time"]) == (2 * 86_400, 900, 600)
    low = gs("admin", "params", "set", "min_run_time", "10", "-a", "dev:0", "-y", ok=False)
    assert "JobEscrowParameterOutOfRange(param=8, value=10, min=300, max=86400)" in low.stderr
    lease_low = gs("admin", "params", "set", "lease_grace", "1", "-a", "dev:0", "-y", ok=False)
    assert "LeaseEscrowParameterOutOfRange(param=6, value=1, min=60, max=604800)" in lease_low.stderr
    gs("admin", "params", "set", "ruling_period", str(14 * 86_400), "-a", "dev:0", "-y")
    gs("admin", "params", "set", "lease_grace", "600", "-a", "dev:0", "-y")
    o1, o2 = Account.create().address, Account.create().address
    gs("admin", "oracle-set", "--oracle", o1, "--oracle", o2, "--threshold", "2", "-a", "dev:0", "-y")
    oracles = gs.json("admin", "params", "show")["oracle_set"]
    assert sorted(oracles["oracles"]) == sorted([o1, o2]) and oracles["threshold"] == 2
    bad = gs("admin", "oracle-set", "--oracle", o1, "--threshold", "2", "-a", "dev:0", "-y", ok=False)
    assert "JobEscrowInvalidOracleSet(size=1, threshold=2)" in bad.stderr
    # Only the guardian may pause.
    denied = gs("admin", "pause", *_signed(gs, "prov"), ok=False)
    assert "Unauthorized(caller=" in denied.stderr and "only the guardian may do this" in denied.stderr
    gs("admin", "pause", "-a", "dev:0", "-y")
    paused = gs(
        *_create(offer_id, 10),
        "--spec-hash",
        SPEC,
        "--permit",
        *_signed(gs, "client"),
        ok=False,
    )
    assert "EnforcedPause()" in paused.stderr and "paused by the guardian" in paused.stderr
    gs("admin", "unpause", "-a", "dev:0", "-y")
    assert gs.json("admin", "params", "show")["paused"] is False


def test_admin_sweep_excess(gs: Cli, suite: dict[str, str]) -> None:
    """Tokens sent to the job escrow directly go to the treasury by governance's `admin sweep-excess`; nothing it owes
    moves, a second sweep finds nothing, and an account other than governance is told who may sweep. Tokens sent to
    the lease escrow (which has no sweep) stay there."""
    record = json.loads((gs.home / "deployments" / "31337.json").read_text())
    escrow, lease = record["addresses"]["escrow"], record["addresses"]["leaseEscrow"]
    gs("token", "transfer", "3", escrow, *_signed(gs, "client"))
    gs("token", "transfer", "2", lease, *_signed(gs, "client"))
    denied = gs("admin", "sweep-excess", *_signed(gs, "prov"), ok=False)
    assert "error: only the job escrow's governance" in denied.stderr and "hint:" in denied.stderr
    before = {a: int(gs.json("token", "balance", a)["balance"]) for a in (escrow, lease)}
    out = gs.json("admin", "sweep-excess", "-a", "dev:0", "-y")
    assert int(out["amount"]) == 3 * E18 and out["tx"]["success"]
    after = {a: int(gs.json("token", "balance", a)["balance"]) for a in (escrow, lease)}
    assert (before[escrow] - after[escrow], before[lease] - after[lease]) == (3 * E18, 0)
    again = gs("admin", "sweep-excess", "-a", "dev:0", "-y", ok=False)
    assert (
        "error: the job escrow holds no tokens beyond what it owes" in again.stderr
        and "hint:" in again.stderr
    )
    legacy = gs("admin", "sweep-excess", "--escrow", "leases", "-a", "dev:0", "-y", ok=False)
    assert "--escrow" in legacy.stderr and "Traceback" not in legacy.stderr


def test_unstake_and_withdraw_after_unbonding(
    gs: Cli, suite: dict[str, str], offer_id: int, anvil: Anvil
) -> None:
    start = int(gs.json("token", "balance", "prov")["balance"])
    out = gs.json("provider", "unstake", "100", *_signed(gs, "prov"))
    assert int(out["unbonding"]) == 100 * E18
    st = gs("provider", "status", "prov").stdout
    assert "unbonding         100 GPUC, released" in st and "(in 7.0 d)" in st
    early = gs("provider", "withdraw-stake", *_signed(gs, "prov"), ok=False)
    assert "ProviderStakingStillUnbonding(" in early.stderr and "wait until the release time" in early.stderr
    anvil.increase_time(UNBONDING + 1)
    done = gs.json("provider", "withdraw-stake", *_signed(gs, "prov"))
    assert int(done["withdrawn"]) == 100 * E18
    assert int(gs.json("token", "balance", "prov")["balance"]) == start + 100 * E18
    st2 = gs.json("provider", "status", "prov")
    assert int(st2["unbonding"]) == 0 and int(st2["bonded"]) == 900 * E18


def _client(gs: Cli, anvil: Anvil):  # type: ignore[no-untyped-def]
    from gpusettle.chain import Gpusettle
    from gpusettle.models import DeploymentRecord

    record = DeploymentRecord.load(gs.home / "deployments" / "31337.json")
    return Gpusettle.connect(anvil.url, record)


def _unlock(gs: Cli, alias: str):  # type: ignore[no-untyped-def]
    from gpusettle.keystore import Keystore

    return Keystore(gs.home / "keystores").unlock(alias, PW)


def test_claim_timeout_after_deadline_and_grace(
    gs: Cli, suite: dict[str, str], offer_id: int, anvil: Anvil
) -> None:
    created = gs.json(
        *_create(offer_id, 1000),
        "--deadline",
        "1h",
        "--spec-hash",
        SPEC,
        "--permit",
        *_signed(gs, "client"),
    )
    job_id = created["job_id"]
    client = _client(gs, anvil)
    worker = _unlock(gs, "worker")
    anvil.set_balance(worker.address, 10**18)
    client.send(client.plan_accept_job(worker.address, job_id), worker)
    assert gs.json("job", "status", str(job_id))["status"] == "Running"
    early = gs("job", "claim-timeout", str(job_id), *_signed(gs, "client"), ok=False)
    assert f"JobEscrowTimeoutNotReached(jobId={job_id}" in early.stderr
    assert "wait until the deadline plus the grace period" in early.stderr
    anvil.increase_time(3600 + 600 + 1)
    before = int(gs.json("token", "balance", "client")["balance"])
    out = gs.json("job", "claim-timeout", str(job_id), *_signed(gs, "client"))
    assert int(out["refund"]) == 10**18
    assert int(out["slashed"]) == 10**17  # half of the 20% collateral
    assert int(gs.json("token", "balance", "client")["balance"]) == before + 10**18 + 10**17
    assert gs.json("job", "status", str(job_id))["status"] == "TimedOut"
    # A job that never settled cannot be disputed: the contract says why.
    res = gs(
        "job",
        "dispute",
        str(job_id),
        "--reason",
        "late",
        *_signed(gs, "client"),
        ok=False,
    )
    # Refused before anything is sent (not even the bond's approval).
    assert f"job {job_id} is TimedOut: only a settled job can be disputed" in res.stderr, res.stderr


def test_a_transaction_that_reverts_once_mined_reports_its_hash_and_reason(
    gs: Cli, suite: dict[str, str], offer_id: int, anvil: Anvil
) -> None:
    from gpusettle.chain import DecodedContractError

    created = gs.json(
        *_create(offer_id, 10),
        "--spec-hash",
        SPEC,
        "--permit",
        *_signed(gs, "client"),
    )
    job_id = created["job_id"]
    client = _client(gs, anvil)
    owner = _unlock(gs, "client")
    stale = client.plan_cancel_job(owner.address, job_id)  # estimated while the job is still open
    gs("job", "cancel", str(job_id), *_signed(gs, "client"))
    with pytest.raises(DecodedContractError) as info:
        client.send(stale, owner)
    err = info.value
    assert err.tx_hash and err.tx_hash.startswith("0x")
    assert f"transaction {err.tx_hash} reverted" in str(err)
    assert err.name == "JobEscrowWrongStatus" and err.raw_args == (job_id, 4, 1)
    receipt = anvil.call("eth_getTransactionReceipt", err.tx_hash)
    assert receipt["status"] == "0x0"


def test_offer_withdraw_and_not_owner(gs: Cli, suite: dict[str, str], offer_id: int) -> None:
    res = gs.json(
        "provider",
        "offer",
        "add",
        "--gpu-model",
        "RTX 4090",
        "--gpu-count",
        "1",
        "--vram",
        "24",
        "--price",
        "0.0001/s",
        *_signed(gs, "prov"),
    )
    new_id = res["offer_id"]
    denied = gs(
        "provider",
        "offer",
        "withdraw",
        str(new_id),
        *_signed(gs, "client"),
        ok=False,
    )
    assert (
        f"ProviderStakingNotOfferOwner(offerId={new_id}, caller={suite['client']}, owner={suite['prov']})"
        in (denied.stderr)
    )
    gs("provider", "offer", "withdraw", str(new_id), *_signed(gs, "prov"))
    active = gs.json("provider", "offer", "list", "--provider", "prov", "--active")["offers"]
    assert new_id not in [o["offer_id"] for o in active] and offer_id in [o["offer_id"] for o in active]


def test_json_errors_are_json(gs: Cli) -> None:
    res = gs("token", "balance", "0x" + "00" * 20, "--network", "nowhere", "--json", ok=False)
    data = json.loads(res.stdout)
    assert data["type"] == "ConfigError" and "unknown network 'nowhere'" in data["error"]


def test_dev_fund_asks_once_for_both_sends_and_no_sends_nothing(
    gs: Cli, anvil: Anvil, suite: dict[str, str], tty: None
) -> None:
    poor = suite["poor"]
    eth_before = int(anvil.call("eth_getBalance", poor, "latest"), 16)
    tokens_before = int(gs.json("token", "balance", "poor")["balance"])
    res = gs("dev", "fund", "poor", "--eth", "1", "--tokens", "1", input="n\n", ok=False)
    assert res.exit_code != 0
    assert "send 1 ETH to" in res.stderr and "transfer 1 GPUC to" in res.stderr
    assert res.stderr.count("Send these 2 transactions?") == 1
    assert int(anvil.call("eth_getBalance", poor, "latest"), 16) == eth_before
    assert int(gs.json("token", "balance", "poor")["balance"]) == tokens_before
    # one yes sends both, each with its outcome
    res = gs("dev", "fund", "poor", "--eth", "1", "--tokens", "1", input="y\n")
    assert res.stderr.count("Send these 2 transactions?") == 1 and "Send this transaction?" not in res.stderr
    assert "sent 1 ETH: tx 0x" in res.stderr and "funded: tx 0x" in res.stderr
    assert int(anvil.call("eth_getBalance", poor, "latest"), 16) == eth_before + E18
    assert int(gs.json("token", "balance", "poor")["balance"]) == tokens_before + E18


# -- issue 10 ---------------------------------------------------------------------------------------------


def test_set_role_sends_from_the_account_option_not_the_holder(
    gs: Cli, suite: dict[str, str], anvil: Anvil
) -> None:
    """`admin set-role treasury client --account dev:0` sent from `client`: the positional argument was
    also called `account` and overwrote --account (and click warned about it on every command)."""
    dev0 = anvil.call("eth_accounts")[0]
    nonce = anvil.nonce(dev0)
    out = gs.json("admin", "set-role", "treasury", "client", "--account", "dev:0", "--yes")
    tx = anvil.call("eth_getTransactionByHash", out["tx"]["tx_hash"])
    assert tx["from"].lower() == dev0.lower() and anvil.nonce(dev0) == nonce + 1
    assert gs.json("admin", "params", "show")["roles"]["treasury"] == suite["client"]
    gs("admin", "set-role", "treasury", "dev:0", "--account", "dev:0", "--yes")
    help_text = gs("admin", "set-role", "--help").output
    assert "is used by an argument and another parameter" not in help_text and "HOLDER" in help_text


def test_without_a_terminal_a_prompt_is_refused_before_it_is_asked(
    gs: Cli, suite: dict[str, str], anvil: Anvil
) -> None:
    nonce = anvil.nonce(suite["client"])
    res = gs("token", "transfer", "1", "prov", "-a", "client", "--password-file", _pw(gs), ok=False)
    assert "there is no terminal to answer on" in res.stderr and "pass --yes" in res.stderr
    assert "Send this transaction? [y/N]" not in res.output and "Aborted" not in res.output
    assert anvil.nonce(suite["client"]) == nonce
    fund = gs("dev", "fund", "poor", "--eth", "1", ok=False)
    assert "pass --yes" in fund.stderr and "[y/N]" not in fund.output
    # GPUSETTLE_YES=1 is the environment's --yes.
    gs(
        "token",
        "transfer",
        "1",
        "prov",
        "-a",
        "client",
        "--password-file",
        _pw(gs),
        env={"GPUSETTLE_YES": "1"},
    )
    assert anvil.nonce(suite["client"]) == nonce + 1


def test_renamed_and_removed_commands(gs: Cli, suite: dict[str, str]) -> None:
    old = gs("admin", "param", "set", "fee_bps", "100", "-a", "dev:0", "-y", ok=False)
    assert "No such command 'param'" in old.stderr and old.exit_code == 2
    assert "error: " in old.stderr and "admin --help`" in old.stderr and "hint: see `" in old.stderr
    gone = gs("accounts", "list", ok=False)
    assert "No such command 'accounts'" in gone.stderr
    listing = gs("--help").output
    for group in (
        "wallet",
        "provider",
        "offer",
        "job",
        "token",
        "admin",
        "deploy",
        "dev",
        "worker",
        "oracle",
    ):
        assert f"  {group} " in listing, group
    assert "AMOUNT TO" in gs("token", "transfer", "--help").output


def test_json_amounts_are_always_strings_of_base_units(gs: Cli, suite: dict[str, str], offer_id: int) -> None:
    bal = gs.json("token", "balance", "client")
    assert isinstance(bal["balance"], str) and isinstance(bal["eth_wei"], str)
    st = gs.json("provider", "status", "prov")
    for key in ("bonded", "unbonding", "free", "locked_collateral", "earnings", "min_stake"):
        assert isinstance(st[key], str), key
    assert isinstance(st["record"]["earnings"], str) and isinstance(st["record"]["jobs_completed"], int)
    created = gs.json(*_create(offer_id, 10), "--spec-hash", SPEC, "--permit", *_signed(gs, "client"))
    assert isinstance(created["deposit"], str) and isinstance(created["job_id"], int)
    assert isinstance(created["price_per_gpu_second"], str) and created["gpu_count"] == 4


def test_change_password_checks_the_old_one_first(gs: Cli, suite: dict[str, str]) -> None:
    bad = gs.password_file("bad-old", "not it")
    # No new password on stdin: before the fix it asked for the new one first and failed on that.
    res = gs("wallet", "change-password", "poor", "--password-file", bad, input="", ok=False)
    assert "error: wrong password for account 'poor'" in res.stderr
    assert "New password" not in res.output


def test_config_file_environment_and_options_in_that_order(
    gs: Cli, suite: dict[str, str], tmp_path: Path, anvil: Anvil
) -> None:
    home = gs.home
    config = home / "config.toml"
    config.write_text(f'account = "client"\ndeployments_dir = "{home / "deployments"}"\n')
    try:
        # The config file names the account...
        assert gs.json("wallet", "address")["address"] == suite["client"]
        # ...the environment wins over it...
        assert gs.json("wallet", "address", env={"GPUSETTLE_ACCOUNT": "prov"})["address"] == suite["prov"]
        # ...and the option over both.
        assert (
            gs.json("wallet", "address", "-a", "poor", env={"GPUSETTLE_ACCOUNT": "prov"})["address"]
            == suite["poor"]
        )
        # The config file's deployments_dir is used when the environment says nothing.
        assert gs.json("token", "balance", env={"GPUSETTLE_DEPLOYMENTS": ""})["address"] == suite["client"]
        config.write_text('acount = "client"\n')
        res = gs("wallet", "address", ok=False)
        assert f"{config} has unknown keys: acount" in res.stderr and "the keys are:" in res.stderr
    finally:
        config.unlink()
    bad = gs("token", "balance", "prov", env={"GPUSETTLE_RPC_URL": "localhost:8545"}, ok=False)
    assert "invalid configuration: rpc_url" in bad.stderr and "is not an http(s) URL" in bad.stderr


def test_help_and_version_import_no_command_module() -> None:
    """Start-up: `gpusettle --help` and `--version` load click and the root group only (no web3, no
    pydantic, no oracle app): the command modules are imported when their command runs."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from gpusettle.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('web3', 'pydantic', 'eth_account', 'gpusettle.oracle.app', "
        "'gpusettle.cli.job', 'gpusettle.worker.runner', 'requests') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    for args in (["--help"], ["--version"]):
        res = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, timeout=60
        )
        assert "HEAVY []" in res.stderr, (args, res.stderr)


def test_a_stake_below_the_minimum_says_what_it_does_not_allow(gs: Cli, suite: dict[str, str]) -> None:
    minimum = int(gs.json("admin", "params", "show")["parameters"]["min_stake"])
    assert minimum > 10 * 10**18
    out = gs("provider", "stake", "10", *_signed(gs, "client"))
    assert "below the minimum stake" in out.stdout and "no new job or lease" in out.stdout, out.stdout
    again = gs.json("provider", "stake", "1", *_signed(gs, "client"))
    assert again["below_minimum"] is True and int(again["min_stake"]) == minimum


def test_offer_list_marks_a_paused_offer(gs: Cli, suite: dict[str, str], offer_id: int) -> None:
    """A client saw a paused offer listed as any other, then had `job create` on it refused."""
    gs("provider", "offer", "pause", str(offer_id), *_signed(gs, "prov"))
    try:
        listed = gs("offer", "list").stdout
        line = next(li for li in listed.splitlines() if li.startswith(f"#{offer_id} "))
        assert "(paused: takes no new work)" in line, listed
        row = next(o for o in gs.json("offer", "list")["offers"] if o["offer_id"] == offer_id)
        assert row["paused"] is True
    finally:
        gs("provider", "offer", "resume", str(offer_id), *_signed(gs, "prov"))
    line = next(li for li in gs("offer", "list").stdout.splitlines() if li.startswith(f"#{offer_id} "))
    assert "paused" not in line
