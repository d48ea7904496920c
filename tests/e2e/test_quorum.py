"""Two of three oracles: the posting oracle asks its peers to verify independently and co-sign; it
posts only when two signatures agree. The peer fetches the spec and the matmul payload from the
poster and checks them itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from hexbytes import HexBytes

from gpusettle.devnet import free_port
from gpusettle.eip712 import CompactSignature, attestation_digest, receipts_hash, recover
from gpusettle.hashing import keccak256
from gpusettle.models import JobReceipt, JobSpec, MatmulWorkload
from gpusettle.signed_requests import result_upload_headers
from gpusettle.workloads import run_matmul
from tests.e2e.conftest import PORTS, World, make_world, settled_everywhere, wait_until

SPEC = JobSpec(workload=MatmulWorkload(kind="matmul", seed=11, n=96, repetitions=1))


@pytest.fixture(scope="module")
def quorum_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    anvil, world = make_world(tmp_path_factory.mktemp("quorum"), oracles=3, threshold=2)
    try:
        yield world
    finally:
        for proc in world.processes:
            proc.stop()
        anvil.stop()


def distinct_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port(*PORTS))
    return sorted(ports)


def test_two_of_three_cosign_and_settle(quorum_world: World) -> None:
    world = quorum_world
    gs = world.net.gs
    peer_port, poster_port, dead_port = distinct_ports(3)
    # Peers fetch what they lack only from their configured peers, never from a URL in a request.
    poster_url = f"http://127.0.0.1:{poster_port}"
    peer_args = ("--no-post", "--peer", poster_url)
    peer, peer_url = world.start_oracle(
        "oracle2", *peer_args, account="oracle2", arbiter=False, port=peer_port
    )
    dead = f"http://127.0.0.1:{dead_port}"  # the third oracle is down
    poster, url = world.start_oracle("oracle1", "--peer", peer_url, "--peer", dead, port=poster_port)

    spec_hash = bytes.fromhex(SPEC.spec_hash()[2:])
    ids = world.open(2, spec_hash=spec_hash)
    accepted = world.net.accept_jobs(world.worker, ids)
    assert httpx.put(f"{url}/v1/specs/{SPEC.spec_hash()}", content=SPEC.canonical_json()).status_code == 201
    payload = run_matmul(SPEC.workload, device="cpu").payload  # type: ignore[arg-type]
    assert payload is not None
    result_hash = "0x" + keccak256(payload).hex()
    first, second = sorted(accepted)
    signature = result_upload_headers(world.verifier().domain, bytes(world.worker.key), first, result_hash)
    assert httpx.put(f"{url}/v1/results/{result_hash}", content=payload, headers=signature).status_code == 201
    last_end = max(accepted.values()) + 2  # the receipts below end 2 s after acceptance
    wait_until(lambda: time.time() > last_end, 30, "the receipts' end times to pass")

    doc = world.sign(world.receipt(first, accepted[first], result_hash=result_hash))
    assert httpx.post(f"{url}/v1/receipts", json=doc).status_code == 202
    wait_until(lambda: settled_everywhere(world, url, first), 40, "the co-signed batch to settle", world)

    # The settling transaction carries exactly two attestation signatures: the poster's and the peer's.
    (event,) = gs.events("escrow", "JobSettled", jobId=first)
    tx_hash = httpx.get(f"{url}/v1/receipts/{first}").json()["tx_hash"]
    tx = gs.chain.w3.eth.get_transaction(HexBytes(tx_hash))
    _, args = gs.escrow.decode_function_input(tx["input"])
    receipts = [
        JobReceipt(**{**dict(r), "resultHash": "0x" + bytes(r["resultHash"]).hex()}) for r in args["receipts"]
    ]
    digest = attestation_digest(receipts_hash(receipts), gs.oracle_set().epoch, world.verifier().domain)
    signers = [recover(digest, CompactSignature(bytes(s["r"]), bytes(s["vs"]))) for s in args["attestation"]]
    assert signers == sorted(
        [world.oracle.address, world.net.accounts["oracle2"].address], key=lambda a: int(a, 16)
    )
    del event

    # With the peer down there is no quorum: the receipt waits, verified, and nothing is posted.
    peer.stop()
    doc2 = world.sign(world.receipt(second, accepted[second], result_hash=result_hash))
    assert httpx.post(f"{url}/v1/receipts", json=doc2).status_code == 202
    wait_until(
        lambda: httpx.get(f"{url}/v1/receipts/{second}").json()["status"] == "verified",
        20,
        "verification",
        world,
    )
    wait_until(lambda: "no quorum" in poster.tail(), 30, "the poster to try for a quorum", world)
    assert httpx.get(f"{url}/v1/receipts/{second}").json()["status"] == "verified"
    assert gs.job(second).status == "Running"
    world.start_oracle("oracle2", *peer_args, account="oracle2", arbiter=False, port=peer_port)
    wait_until(lambda: gs.job(second).status == "Settled", 40, "settlement once the peer is back", world)
    poster.stop()
