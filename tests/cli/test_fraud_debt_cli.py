"""`gpusettle job status` shows a fraud debt and `gpusettle job collect-fraud-debt` collects it (outside review of
2026-12-03): a fraud report whose slash the provider's stake could not cover leaves the rest owed to the client,
collected as the stake allows. Against a real anvil."""

from __future__ import annotations

from gpusettle.devnet import FastSender
from gpusettle.hashing import keccak256
from tests.cli.test_lapse_dispute import PRICE, SPEC, World, world

__all__ = ["world"]  # the module-scoped world of tests/cli/test_lapse_dispute.py (rando is the arbiter)

E18 = 10**18


def test_a_fraud_debt_is_shown_and_collected(world: World) -> None:
    gs, net, acc = world.cli, world.net, world.accounts
    net.fund_tokens({acc["client"].address: 20_000 * E18})
    client = FastSender(net.gs, acc["client"])
    # A job worth twice the provider's stake: its 20% collateral locks, the fraud slash (the whole deposit) does not
    # find the rest.
    gpu_seconds = 10_000 * E18 // PRICE
    client.call(net.gs.escrow, "createJob", world.offer, gpu_seconds, net.gs.chain.timestamp() + 86_400, SPEC, 1,
                PRICE, gas=400_000)  # fmt: skip
    (job_id,) = [
        int(e.args["jobId"])
        for r in client.wait()
        for e in net.gs.chain.decode_logs(r["logs"])
        if e.name == "JobCreated"
    ]
    net.accept_jobs(acc["provider"], [job_id])  # the staking wallet: beyond the worker key's daily budget
    # Only the arbiter reports, only a running job, with the evidence's hash on-chain.
    stranger = gs("admin", "report-fraud", str(job_id), "--evidence", "x", "-a", "client", "--yes", ok=False)
    assert "is not the arbiter" in stranger.output and "hint:" in stranger.output
    report = gs.json("admin", "report-fraud", str(job_id), "--evidence", "the matmul check failed", "-a", "rando",
                     "--yes")  # fmt: skip
    owed = net.gs.fraud_debt(job_id)
    assert owed > 0 and int(report["fraud_debt"]) == owed
    assert report["evidence_hash"] == "0x" + keccak256(b"the matmul check failed").hex()
    again = gs("admin", "report-fraud", str(job_id), "--evidence", "x", "-a", "rando", "--yes", ok=False)
    assert "is Fraud, not Running" in again.output and "Traceback" not in again.output

    status = gs.json("job", "status", str(job_id), "--account", "client")
    assert status["status"] == "Fraud" and int(status["fraud_debt"]) == owed
    assert "collect-fraud-debt" in gs("job", "status", str(job_id), "--account", "client").output

    info = gs.json("provider", "status", acc["provider"].address, "--account", "client")
    assert (int(info["fraud_debt"]), int(info["open_disputes"]), int(info["dispute_frozen"])) == (owed, 0, 0)
    assert "fraud debt" in gs("provider", "status", acc["provider"].address, "--account", "client").output

    # The report slashed every token of stake: the CLI says so, in tokens, and sends nothing.
    nothing = gs("job", "collect-fraud-debt", str(job_id), "--account", "client", "--yes", ok=False)
    assert "has no stake left" in nothing.output and "stakes more" in nothing.output
    assert "Traceback" not in nothing.output
    assert net.gs.fraud_debt(job_id) == owed

    provider = FastSender(net.gs, acc["provider"])
    provider.call(net.gs.token, "approve", net.gs.staking.address, 1_000 * E18)
    provider.call(net.gs.staking, "stake", 1_000 * E18, gas=300_000)
    provider.wait()
    before = net.gs.token_balance(acc["client"].address)
    out = gs.json("job", "collect-fraud-debt", str(job_id), "--account", "client", "--yes")
    assert int(out["collected"]) == int(out["this_job_collected"]) == 1_000 * E18
    assert int(out["this_job_still_owed"]) == owed - 1_000 * E18 == net.gs.fraud_debt(job_id)
    paid = [(int(p["job_id"]), int(p["amount"]), int(p["still_owed"])) for p in out["paid"]]
    assert paid == [(job_id, 1_000 * E18, owed - 1_000 * E18)]
    assert net.gs.token_balance(acc["client"].address) - before == 1_000 * E18

    listed = gs.json("offer", "list", "--account", "client")["offers"]
    assert [o["provider_jailed"] for o in listed if int(o["offer_id"]) == world.offer] == [True]
    assert "(provider jailed: takes no new work)" in gs("offer", "list", "--account", "client").output
    # The jailed provider's offer is refused before the approve, for the client, not the provider.
    nonce = net.gs.chain.w3.eth.get_transaction_count(acc["client"].address)
    jailed = gs("job", "create", "--offer", str(world.offer), "--gpu-seconds", "600", "--gpus", "1",
                "--spec-hash", "0x" + "ab" * 32, "--account", "client", "--yes", ok=False)  # fmt: skip
    assert "is jailed" in jailed.output and "another provider's offer" in jailed.output
    assert net.gs.chain.w3.eth.get_transaction_count(acc["client"].address) == nonce

    unknown = gs("job", "collect-fraud-debt", "999", "--account", "client", "--yes", ok=False)
    assert "999" in unknown.output and "hint:" in unknown.output and "Traceback" not in unknown.output
