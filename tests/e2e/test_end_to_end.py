"""The worker, the oracle and anvil as separate processes: jobs run, settle, and the money moves
exactly as the price and the fee say."""

from __future__ import annotations

import sys

import httpx
import pytest
from hexbytes import HexBytes

from gpusettle.devnet import FastSender
from gpusettle.errors import GpusettleError
from gpusettle.models import CommandWorkload, JobSpec, MatmulWorkload
from tests.e2e.conftest import FEE_BPS, PRICE, World, settled_everywhere, wait_until


def publish(url: str, spec: JobSpec) -> bytes:
    response = httpx.put(f"{url}/v1/specs/{spec.spec_hash()}", content=spec.canonical_json(), timeout=10)
    assert response.status_code == 201, response.text
    return bytes.fromhex(spec.spec_hash()[2:])


def test_jobs_settle_and_balances_move_exactly(world: World) -> None:
    gs = world.net.gs
    oracle, url = world.start_oracle()
    worker = world.start_worker(url, "--allow-command")
    specs = {
        "matmul": JobSpec(workload=MatmulWorkload(kind="matmul", seed=42, n=192, repetitions=4)),
        "command": JobSpec(
            workload=CommandWorkload(
                kind="command",
                argv=[sys.executable, "-c", "import time; time.sleep(1.2); open('out.txt','w').write('42')"],
                outputs=["out.txt"],
            )
        ),
        "failing": JobSpec(
            workload=CommandWorkload(kind="command", argv=[sys.executable, "-c", "import sys; sys.exit(3)"])
        ),
    }
    client_before = gs.token_balance(world.client.address)
    provider_before = gs.token_balance(world.provider.address)
    max_gpu_seconds = 1000
    job_ids: dict[str, int] = {}
    for name, spec in specs.items():
        (job_id,) = world.open(1, max_gpu_seconds=max_gpu_seconds, spec_hash=publish(url, spec))
        job_ids[name] = job_id
    wait_until(
        lambda: all(settled_everywhere(world, url, j) for j in job_ids.values()),
        120,
        "all three jobs to settle",
        world,
    )

    paid_total = payout_total = fee_total = 0
    outcomes = {}
    for name, job_id in job_ids.items():
        (event,) = gs.events("escrow", "JobSettled", jobId=job_id)
        billed, payout, fee = int(event.args["gpuSeconds"]), int(event.args["payout"]), int(event.args["fee"])
        outcomes[name] = int(event.args["outcome"])
        paid = billed * PRICE
        assert billed >= 1 and payout + fee == paid and fee == paid * FEE_BPS // 10_000
        status = httpx.get(f"{url}/v1/receipts/{job_id}", timeout=10).json()
        assert status["status"] == "settled"
        receipt = gs.chain.w3.eth.get_transaction_receipt(HexBytes(status["tx_hash"]))
        assert any(
            e.name == "JobSettled" and e.args["jobId"] == job_id
            for e in gs.chain.decode_logs(receipt["logs"])
        )
        paid_total += paid
        payout_total += payout
        fee_total += fee
    assert outcomes == {"matmul": 0, "command": 0, "failing": 1}  # FailedClient: metered time is paid

    escrow = gs.escrow.address
    client_tx = FastSender(gs, world.client)
    client_tx.call(gs.escrow, "claimRefunds", list(job_ids.values()))
    client_tx.wait()
    provider_tx = FastSender(gs, world.provider)
    provider_tx.call(gs.escrow, "withdrawEarnings")
    provider_tx.call(gs.escrow, "withdrawFees")
    provider_tx.wait()
    assert gs.token_balance(world.client.address) == client_before - paid_total
    assert gs.token_balance(world.provider.address) == provider_before + payout_total
    assert gs.token_balance(world.treasury.address) == fee_total
    assert gs.token_balance(escrow) == 0

    wait_until(
        lambda: worker.log_path.read_text().count("settled in tx") == 3,
        30,
        "the worker to see its three receipts settled",
        world,
    )
    worker.stop()
    oracle.stop()
    assert worker.log_path.read_text().count("receipt acknowledged by the oracle") == 3


def test_more_jobs_than_free_gpus_are_refused_before_anything_is_sent(world: World) -> None:
    gs = world.net.gs
    # World.open gives settled jobs' GPUs back before it counts: count after that too, or `free` is stale.
    world.release_settled_gpus()
    assert not world.more_offers, "the refusal is about the one offer"
    free = gs.free_gpus(world.offer_id)
    too_many = free // world.gpu_count + 1
    jobs_before = gs.job_count()
    nonce_before = gs.chain.w3.eth.get_transaction_count(world.client.address)
    with pytest.raises(GpusettleError) as info:
        world.open(too_many)
    message = str(info.value)
    assert f"offer {world.offer_id} has {free} of its {world.offer_gpus} GPUs free" in message
    assert f"{too_many} job(s) of {world.gpu_count} GPU(s) need {too_many * world.gpu_count}" in message
    assert info.value.hint is not None and "open fewer jobs" in info.value.hint
    assert gs.job_count() == jobs_before
    assert gs.chain.w3.eth.get_transaction_count(world.client.address) == nonce_before
    with pytest.raises(GpusettleError, match="must take 1 to 8 GPUs, not 9"):
        world.net.open_jobs(
            world.client, world.offer_id, 1, max_gpu_seconds=10, spec_hash=b"\x01" * 32, gpus=9
        )
