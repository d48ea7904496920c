"""What the worker checks before (and while) it serves: gas money for its key, and that this machine
has the hardware each of its provider's offers promises.

An offer says "4 x NVIDIA H100 80GB, 80 GB each"; NVML says what is here. An offer this machine cannot
honour is refused with the reason (its jobs are declined, never run and billed on other hardware),
and the reason is written to a status file that `gpusettle provider status` shows. A machine without
a GPU serves only CPU offers (model "CPU: ..."), unless the development option `--simulate-gpus N`
says to serve up to N GPU slots on the CPU.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomicfile import write_atomic
from ..errors import GpusettleError
from .nvml import GpuInfo, probe_gpus

if TYPE_CHECKING:
    from ..chain.client import Gpusettle, OfferInfo

__all__ = [
    "GAS_PER_JOB",
    "HardwareCheck",
    "MachineHardware",
    "gas_problem",
    "offer_problem",
    "read_statuses",
    "this_machine",
    "write_status",
]

GAS_PER_JOB = 150_000
"""Gas a worker spends per job at most (accept, or decline), with a margin."""
CPU_PREFIX = "CPU"
"""An offer whose model starts with this is served on the CPU."""


@dataclass(frozen=True)
class MachineHardware:
    """What an offer for this machine says."""

    model: str
    count: int
    memory_gb: int
    kind: str
    """gpu, cpu or simulated."""
    note: str


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def _memory_gb() -> int:
    try:
        return max(1, round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30))
    except (ValueError, OSError, AttributeError):
        return 1


def this_machine(simulate_gpus: int | None = None) -> MachineHardware:
    """This machine's GPUs (NVML), else its CPU; `simulate_gpus` N slots on the CPU (development)."""
    gpus, why = probe_gpus()
    if gpus:
        return MachineHardware(
            gpus[0].name[:256],
            min(len(gpus), 255),
            min(g.memory_gb for g in gpus),
            "gpu",
            f"{len(gpus)} x {gpus[0].name} ({gpus[0].memory_gb} GB) via NVML",
        )
    cpu = f"{CPU_PREFIX}: {_cpu_name()} ({os.cpu_count() or 1} cores)"
    if simulate_gpus:
        return MachineHardware(
            f"simulated GPU on {cpu}"[:256],
            simulate_gpus,
            max(1, _memory_gb() // simulate_gpus),
            "simulated",
            f"no GPU ({why}); {simulate_gpus} simulated GPU slot(s) on the CPU (development only)",
        )
    return MachineHardware(cpu[:256], 1, _memory_gb(), "cpu", f"no GPU ({why}); the offer is this CPU")


def _norm(model: str) -> str:
    return "".join(model.lower().replace("nvidia", "").replace("geforce", "").split())


def offer_problem(
    offer: OfferInfo, gpus: list[GpuInfo], no_gpu_reason: str | None, simulate_gpus: int | None
) -> str | None:
    """Why this machine cannot honour `offer`, or None when it can."""
    claim = f"offer {offer.offer_id} promises {offer.gpu_count} x {offer.gpu_model} ({offer.vram_gb} GB each)"
    if offer.gpu_model.strip().upper().startswith(CPU_PREFIX):
        return None
    if not gpus:
        if simulate_gpus is not None:
            if offer.gpu_count <= simulate_gpus:
                return None
            return f"{claim}, but --simulate-gpus allows only {simulate_gpus} slot(s)"
        return (
            f"{claim}, but this machine has no GPU ({no_gpu_reason}); "
            "publish a CPU offer (`gpusettle provider offer add --this-machine`), or on a development "
            "chain start the worker with --simulate-gpus N"
        )
    want = _norm(offer.gpu_model)
    matching = [g for g in gpus if want and (want in _norm(g.name) or _norm(g.name) in want)]
    here = ", ".join(f"{g.name} ({g.memory_gb} GB)" for g in gpus)
    if not matching:
        return f"{claim}, but this machine has {len(gpus)} x {here}"
    if len(matching) < offer.gpu_count:
        return f"{claim}, but this machine has only {len(matching)} of that model ({here})"
    smallest = min(g.memory_gb for g in matching[: offer.gpu_count])
    if smallest + 1 < offer.vram_gb:  # NVML's total rounds to whole GiB: 79.6 GiB is an 80 GB card
        return f"{claim}, but the GPUs here have {smallest} GB each"
    return None


@dataclass
class HardwareCheck:
    """Checks the provider's offers against this machine, once per offer id."""

    client: Gpusettle
    simulate_gpus: int | None = None
    gpus: list[GpuInfo] = field(default_factory=list)
    no_gpu_reason: str | None = None
    refused: dict[int, str] = field(default_factory=dict)
    _checked: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.gpus, self.no_gpu_reason = probe_gpus()

    def check_offers(self, provider: str) -> list[tuple[OfferInfo, str | None]]:
        """Each active offer of `provider` with why it cannot be honoured (None: it can)."""
        out = []
        for offer in self.client.offers(provider, active_only=True):
            out.append((offer, self.problem(offer.offer_id, offer)))
        return out

    def problem(self, offer_id: int, offer: OfferInfo | None = None) -> str | None:
        """Why offer `offer_id` cannot be honoured here (cached), or None."""
        if offer_id not in self._checked:
            info = offer or self.client.offer(offer_id)
            reason = offer_problem(info, self.gpus, self.no_gpu_reason, self.simulate_gpus)
            if reason is not None:
                self.refused[offer_id] = reason
            self._checked.add(offer_id)
        return self.refused.get(offer_id)


def gas_problem(client: Gpusettle, address: str) -> str | None:
    """Why `address` cannot pay for a job's transactions (accept or decline), or None."""
    from ..units import format_units

    have = client.chain.balance(address)
    price = int(client.chain.rpc(lambda: client.chain.w3.eth.gas_price))
    need = GAS_PER_JOB * max(price, 1)
    if have >= need:
        return None
    return (
        f"the worker key {address} has {format_units(have)} ETH but needs about {format_units(need)} ETH "
        f"for each job's accept transaction; fund it "
        f"(`gpusettle dev fund {address} --eth 1` on a local chain, else send it ETH)"
    )


def require_gas(client: Gpusettle, address: str) -> None:
    """GpusettleError when `gas_problem` finds one."""
    problem = gas_problem(client, address)
    if problem is not None:
        message, _, hint = problem.partition("; ")
        raise GpusettleError(message, hint)


STATUS_FILE = "status.json"


def write_status(data_dir: Path, worker: str, provider: str, hardware: str, refused: dict[int, str]) -> None:
    """Record what this worker serves and refuses, in its data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "worker": worker,
        "provider": provider,
        "hardware": hardware,
        "refused_offers": {str(k): v for k, v in sorted(refused.items())},
        "pid": os.getpid(),
        "updated": int(time.time()),
    }
    try:  # the availability controller's part of the file is its own: keep it
        before = json.loads((data_dir / STATUS_FILE).read_text())
        if isinstance(before, dict) and "availability" in before:
            data["availability"] = before["availability"]
    except (OSError, ValueError):
        pass
    write_atomic(data_dir / STATUS_FILE, json.dumps(data, indent=2).encode())


def read_statuses(home: Path, provider: str) -> list[dict[str, Any]]:
    """The status files of this machine's workers serving `provider` whose data directories are under
    `home` (the default `$GPUSETTLE_HOME/workers/<account>`, and `dev up`'s)."""
    out = []
    for path in sorted(home.glob(f"*/*/{STATUS_FILE}")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and str(data.get("provider", "")).lower() == provider.lower():
            out.append(data)
    return out
