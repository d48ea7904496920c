"""The worker's hardware check (gpusettle.worker.preflight.offer_problem) against GPUs as NVML would
describe them: this machine has none, so the GPU cases use NVML's answers written out by hand."""

from __future__ import annotations

import pytest

from gpusettle.chain.client import OfferInfo
from gpusettle.worker.nvml import GpuInfo
from gpusettle.worker.preflight import offer_problem, this_machine


def _offer(model: str, count: int, vram: int) -> OfferInfo:
    return OfferInfo(
        offer_id=7,
        provider="0x" + "11" * 20,
        price_per_gpu_second=1,
        gpu_count=count,
        vram_gb=vram,
        active=True,
        gpu_model=model,
        metadata_uri="",
    )


def _gpus(name: str, n: int, memory_gb: int) -> list[GpuInfo]:
    return [GpuInfo(index=i, name=name, uuid=f"GPU-{i}", memory_gb=memory_gb) for i in range(n)]


H100 = "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize(
    ("offer", "gpus", "expected"),
    [
        (_offer(H100, 4, 80), _gpus(H100, 4, 80), None),
        (_offer("H100", 2, 80), _gpus(H100, 4, 80), None),  # a shorter model name matches
        (_offer(H100, 4, 80), _gpus(H100, 4, 79), None),  # NVML rounds 79.6 GiB down
        (_offer(H100, 8, 80), _gpus(H100, 4, 80), "this machine has only 4 of that model"),
        (_offer(H100, 1, 80), _gpus("NVIDIA GeForce RTX 4090", 1, 24), "this machine has 1 x NVIDIA GeForce"),
        (_offer("RTX 4090", 1, 48), _gpus("NVIDIA GeForce RTX 4090", 1, 24), "the GPUs here have 24 GB each"),
        (_offer("CPU: AMD EPYC (2 cores)", 1, 8), [], None),
        (_offer(H100, 4, 80), [], "this machine has no GPU (no driver)"),
    ],
)
def test_offer_against_the_hardware(offer: OfferInfo, gpus: list[GpuInfo], expected: str | None) -> None:
    problem = offer_problem(offer, gpus, "no driver", None)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem
        assert problem.startswith(f"offer 7 promises {offer.gpu_count} x {offer.gpu_model}")


def test_simulated_slots_are_a_development_choice_with_a_limit() -> None:
    assert offer_problem(_offer(H100, 4, 80), [], "no driver", 4) is None
    too_many = offer_problem(_offer(H100, 8, 80), [], "no driver", 4)
    assert too_many is not None and "--simulate-gpus allows only 4 slot(s)" in too_many


def test_this_machine_offer_is_one_the_worker_serves() -> None:
    hw = this_machine()
    from gpusettle.worker.nvml import probe_gpus

    gpus, why = probe_gpus()
    assert offer_problem(_offer(hw.model, hw.count, hw.memory_gb), gpus, why, None) is None
    simulated = this_machine(3)
    if not gpus:
        assert simulated.count == 3 and simulated.kind == "simulated"
