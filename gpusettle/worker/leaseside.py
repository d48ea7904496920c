"""The lease side of one worker, put together: the lease supervisor, the heartbeats, the availability
controller and the probe server, sharing the worker's state, GPU slots, spec store and key.

The worker runs each part's `tick` in a loop of its own (runner.py); they need a `LeaseChainView`
(leasechain.py), so a worker without one serves jobs only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ..eip712 import Domain
from .announce import EndpointAnnouncer
from .availability import AvailabilityController
from .hardware import HardwareResponder
from .heartbeat import HeartbeatSender
from .leasechain import LeaseChainView
from .leases import LIVE_STATES, LeaseSupervisor
from .owneruse import marker_sampler, nvml_sampler
from .probe import ProbeServer
from .schedule import AvailabilitySettings
from .slots import SlotScheduler
from .specstore import SpecStore
from .state import WorkerState

__all__ = ["LeaseSide", "LeaseSideConfig", "build_lease_side"]

log = logging.getLogger("gpusettle.worker.leases")


@dataclass
class LeaseSideConfig:
    """How the worker serves leases."""

    chain: Callable[[], LeaseChainView]
    """Builds the chain view (called once per worker)."""
    domain: Domain
    """The LeaseEscrow EIP-712 domain heartbeats are signed in."""
    oracles: tuple[str, ...]
    """Where heartbeats go (each oracle of the set)."""
    heartbeat_interval: int = 30
    """Seconds per heartbeat bucket; it must be the oracles' interval."""
    probe_port: int | None = None
    """Serve POST /v1/probe here (0: any free port); None: no probe server."""
    probe_host: str = "127.0.0.1"
    announce_url: str | None = None
    """Where the oracles reach the probe server (announced to them, signed); None: announce nothing."""
    announce_every: float = 300.0
    """Seconds between announcements to each oracle."""
    probe_auth: Callable[[Mapping[str, str], bytes], None] | None = None
    """Who may probe (probe.peer_auth: the oracle set); the worker sets it from its chain client."""
    hardware_auth: Callable[[Mapping[str, str], bytes], None] | None = None
    """Who may send hardware challenges (POST /v1/hardware on the probe port); the runner sets the oracle set."""
    availability: AvailabilitySettings | None = None
    """The schedule and owner-use rule; None: always rentable, the owner never checked."""
    availability_file: Path | None = None
    """Where `availability` was read from: read again when it changes."""
    owner_marker: Path | None = None
    """Development slots: this file standing there is the owner's GPU process."""
    backoff_base: float = 1.0
    backoff_cap: float = 60.0


@dataclass
class LeaseSide:
    """The parts, built."""

    supervisor: LeaseSupervisor
    heartbeats: HeartbeatSender
    availability: AvailabilityController | None
    probe: ProbeServer | None
    announcer: EndpointAnnouncer | None = None

    def loops(self) -> list[tuple[str, Callable[[], bool]]]:
        """(name, one pass) of each loop the worker runs for leases."""
        out: list[tuple[str, Callable[[], bool]]] = [
            ("leases", self.supervisor.tick),
            ("heartbeats", self.heartbeats.tick),
        ]
        if self.availability is not None:
            availability = self.availability
            out.append(("availability", lambda: availability.tick() is not None))
        if self.announcer is not None:
            out.append(("announce", self.announcer.tick))
        return out

    def refuse_new(self) -> str | None:
        """Why no new job or lease is taken now, or None."""
        return self.availability.refuse_new() if self.availability is not None else None

    def recover(self) -> None:
        """After a restart (see LeaseSupervisor.recover); the status file gets the availability."""
        self.supervisor.recover()
        if self.availability is not None:
            self.availability.write_status()

    def stop(self) -> None:
        """Stop the services and the probe server (the leases stay accepted on-chain)."""
        self.supervisor.stop_all()
        if self.probe is not None:
            self.probe.stop()
        if self.announcer is not None:
            self.announcer.close()


def _our_sessions(state: WorkerState) -> set[int]:
    """The process groups (= sessions: each workload starts its own) of every job and lease service
    this worker started, as procgroup.py remembers them."""
    out = set()
    for (value,) in state.execute("SELECT value FROM meta WHERE key LIKE 'pgroup:%' AND value != ''"):
        out.add(int(str(value).split()[0]))
    return out


def build_lease_side(
    config: LeaseSideConfig,
    *,
    state: WorkerState,
    slots: SlotScheduler,
    spec_store: SpecStore,
    account: LocalAccount,
    provider: str,
    data_dir: Path,
    allow_command: bool,
    wrap: Callable[[list[str], list[int], Path], list[str]] | None = None,
    offer_check: Callable[[int], str | None] | None = None,
) -> LeaseSide:
    """Build the parts (the probe server is listening when this returns)."""
    chain = config.chain()
    supervisor = LeaseSupervisor(
        state=state,
        slots=slots,
        chain=chain,
        fetch_spec=spec_store.fetch,
        data_dir=data_dir,
        allow_command=allow_command,
        backoff_base=config.backoff_base,
        backoff_cap=config.backoff_cap,
        wrap=wrap,
        offer_check=offer_check,
    )
    heartbeats = HeartbeatSender(
        state=state,
        private_key=bytes(account.key),
        provider=provider,
        domain=config.domain,
        oracles=config.oracles,
        live=supervisor.liveness,
        interval=config.heartbeat_interval,
        real_gpus=slots.real_gpus,
    )
    availability = None
    if config.availability is not None:
        sampler = (
            nvml_sampler if slots.real_gpus else marker_sampler(config.owner_marker or data_dir / "owner-use")
        )
        availability = AvailabilityController(
            state=state,
            chain=chain,
            settings=config.availability,
            sampler=sampler,
            assigned=lambda: [s for held in slots.assignment().values() for s in held],
            our_sessions=lambda: _our_sessions(state),
            running_leases=lambda: [r.lease_id for r in supervisor.rows(*LIVE_STATES)],
            reclaim=supervisor.reclaim,
            status_dir=data_dir,
            source=config.availability_file,
        )
        supervisor.refuse_new = availability.refuse_new
    probe = None
    if config.probe_port is not None:
        probe = ProbeServer(
            supervisor.slots_of,
            slots.real_gpus,
            host=config.probe_host,
            port=config.probe_port,
            auth=config.probe_auth,
            hardware=HardwareResponder(slots.real_gpus, auth=config.hardware_auth).handle,
        ).start()
        log.info("answering lease probes on http://%s:%d/v1/probe", config.probe_host, probe.port)
    announcer = None
    if config.announce_url is not None:
        announcer = EndpointAnnouncer(
            url=config.announce_url,
            private_key=bytes(account.key),
            provider=provider,
            domain=config.domain,
            oracles=config.oracles,
            every=config.announce_every,
        )
    elif probe is not None:
        log.info(
            "no --announce-url: only oracles whose operator names this worker (--worker-url) will probe it"
        )
    return LeaseSide(supervisor, heartbeats, availability, probe, announcer)
