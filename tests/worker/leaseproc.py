"""A lease worker as its own process, for the kill -9 test: the supervisor and the heartbeats of
gpusettle.worker on a fake chain with one running lease, ticking until killed.

    python -m tests.worker.leaseproc DATA_DIR ORACLE_URL KEY_HEX INTERVAL
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gpusettle.leases.eip712 import lease_domain
from gpusettle.models import JobSpec
from gpusettle.worker.heartbeat import HeartbeatSender
from gpusettle.worker.leases import LeaseSupervisor
from gpusettle.worker.slots import SlotScheduler
from gpusettle.worker.state import WorkerState

from .fakechain import FakeLeaseChain

SPEC = JobSpec.model_validate({"workload": {"kind": "command", "argv": ["sleep", "600"]}})


def main() -> None:
    data, oracle, key = Path(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
    interval = int(sys.argv[4])
    chain = FakeLeaseChain()
    chain.open(1, 2, SPEC.spec_hash())
    chain.accept(1)
    state = WorkerState(data / "worker.sqlite")
    supervisor = LeaseSupervisor(
        state=state,
        slots=SlotScheduler(state, (0, 1, 2, 3)),
        chain=chain,
        fetch_spec=lambda h: SPEC,
        data_dir=data,
        allow_command=True,
    )
    sender = HeartbeatSender(
        state=state,
        private_key=key,
        provider="0x" + "22" * 20,
        domain=lease_domain(31337, "0x" + "ab" * 20),
        oracles=[oracle],
        live=supervisor.liveness,
        interval=interval,
    )
    supervisor.recover()
    while True:
        chain.t = int(time.time())
        supervisor.tick()
        sender.tick()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
