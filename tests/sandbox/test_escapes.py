"""A client program that tries to get out of the sandbox: each attempt is refused or contained, the
job ends with the right outcome, and the worker (this test process) and other jobs go on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gpusettle.models import Outcome, WorkloadLimits
from gpusettle.workloads.sandbox import SandboxPolicy, gpu_device_nodes
from gpusettle.workloads.supervise import alive

from .helpers import MEMORY_HOG, report, run

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the drop to the sandbox user needs a root worker")
OWN_UID = 65521
"""The sandbox user of the tests that count its processes: other sandboxes and daemons on the machine run as
nobody (65534, the default), and one of theirs would read as a leak."""
OWN_POLICY = SandboxPolicy(max_cpus=1, max_memory_mb=512, max_disk_mb=64, max_processes=64, sandbox_uid=OWN_UID)


def _user_pids(uid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid and alive(int(name)):
                    found.append(int(name))
            except OSError:
                continue
    return found


@pytest.fixture
def worker_files(tmp_path: Path) -> dict[str, Path]:
    """What a worker keeps next to its jobs: its state database and keystore, and a home file."""
    data = tmp_path / "worker"
    (data / "keystore").mkdir(parents=True)
    files = {
        "db": data / "worker.sqlite",
        "keystore": data / "keystore" / "worker.json",
        "home": Path.home() / ".gpusettle-sandbox-test-secret",
    }
    for path in files.values():
        path.write_text("SECRET")
        path.chmod(0o600)
    yield files
    files["home"].unlink(missing_ok=True)


def test_cannot_read_the_workers_keystore_database_or_home(
    tmp_path: Path, worker_files: dict[str, Path]
) -> None:
    targets = {name: str(path) for name, path in worker_files.items()}
    targets["checkout"] = str(Path(__file__).resolve())
    code = f"report(**{{k: attempt(lambda p=p: open(p).read()) for k, p in {targets!r}.items()}}, python=attempt(lambda: open({sys.executable!r}, 'rb').read(4)))"
    result, paths = run(tmp_path / "job", code)
    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    seen = report(paths)
    assert seen["python"].startswith("ok")  # the runtime is there: the other refusals are the sandbox's
    for name in targets:
        assert seen[name].startswith("refused"), (name, seen[name])


def test_cannot_write_outside_its_work_directory(tmp_path: Path) -> None:
    host_target = tmp_path / "planted"
    code = (
        f"report(usr=attempt(lambda: open('/usr/planted', 'w')), etc=attempt(lambda: open('/etc/planted', 'w')), "
        f"host=attempt(lambda: open({str(host_target)!r}, 'w')), inputs=attempt(lambda: open('/job/in/x', 'w')), "
        "tmp=attempt(lambda: open('/tmp/planted', 'w').write('x')), work=attempt(lambda: open('/job/mine', 'w').write('x')))"
    )
    result, paths = run(tmp_path / "job", code)
    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    seen = report(paths)
    for name in ("usr", "etc", "host", "inputs"):
        assert seen[name].startswith("refused"), (name, seen[name])
    assert seen["tmp"].startswith("ok") and seen["work"].startswith("ok")
    assert not host_target.exists() and not Path("/usr/planted").exists()
    assert (paths.work / "mine").read_text() == "x"


def _listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    return server, server.getsockname()[1]


def _connects(port: int) -> str:
    return f"report(tcp=attempt(lambda: __import__('socket').create_connection(('127.0.0.1', {port}), timeout=3)))"


def test_no_network_unless_allowed_and_asked(tmp_path: Path) -> None:
    server, port = _listener()
    try:
        result, paths = run(tmp_path / "closed", _connects(port))
        assert result.outcome == Outcome.COMPLETED
        assert report(paths)["tcp"].startswith("refused")
        with pytest.raises(TimeoutError):
            server.accept()
        # Control: the same program with the network granted does reach the listener, so the refusal
        # above is the sandbox's doing.
        allowed = SandboxPolicy(allow_network=True, max_cpus=1, max_memory_mb=512, max_disk_mb=64)
        result, paths = run(tmp_path / "open", _connects(port), policy=allowed, network=True)
        assert report(paths)["tcp"].startswith("ok")
        server.accept()[0].close()
    finally:
        server.close()


def test_cannot_see_another_jobs_files_or_gpus(tmp_path: Path) -> None:
    first_root = tmp_path / "jobs" / "1"
    holder = threading.Thread(
        target=run,
        args=(first_root, "open('/job/secret-of-job-1', 'w').write('x'); import time; time.sleep(3)"),
    )
    holder.start()
    deadline = time.monotonic() + 10
    while not (first_root / "work" / "secret-of-job-1").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    code = (
        "import glob\n"
        "found = [p for top in ('/job', '/tmp', '/dev', '/run', '/var') "
        "for p in glob.glob(top + '/**/secret-of-job-1', recursive=True)] + glob.glob('/*/secret-of-job-1') + "
        f"[p for p in [{str(first_root / 'work' / 'secret-of-job-1')!r}] if os.path.exists(p)]\n"
        "report(found=found, nvidia=glob.glob('/dev/nvidia*'), cuda=os.environ.get('CUDA_VISIBLE_DEVICES'), "
        "procs=len([p for p in os.listdir('/proc') if p.isdigit()]))"
    )
    result, paths = run(tmp_path / "jobs" / "2", code)
    holder.join()
    seen = report(paths)
    assert result.outcome == Outcome.COMPLETED
    assert seen["found"] == [] and seen["nvidia"] == [] and seen["cuda"] == ""
    assert seen["procs"] <= 3  # its own PID namespace: not job 1's processes, not the worker's


def test_gpu_nodes_are_only_the_jobs_own(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidiactl", "nvidia-uvm"):
        (dev / name).touch()
    nodes = gpu_device_nodes([1], dev)
    assert str(dev / "nvidia1") in nodes and str(dev / "nvidiactl") in nodes
    assert str(dev / "nvidia0") not in nodes and str(dev / "nvidia2") not in nodes
    assert gpu_device_nodes([], dev) == []


@ROOT_ONLY
def test_a_fork_bomb_is_contained_and_other_jobs_go_on(tmp_path: Path) -> None:
    bomb = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.05)\n"
    bystander_policy = SandboxPolicy(max_cpus=1, max_memory_mb=512, max_disk_mb=64, sandbox_uid=65533)
    outcomes: dict[str, object] = {}
    bystander = threading.Thread(
        target=lambda: outcomes.update(
            other=run(
                tmp_path / "other",
                "import subprocess, time; time.sleep(1.5); report(ls=subprocess.run(['ls', '/'], capture_output=True).returncode)",
                policy=bystander_policy,
            )
        )
    )
    bystander.start()
    peak = 0
    sampler_stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampler_stop.is_set():
            peak = max(peak, len(_user_pids(OWN_UID)))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    result, _ = run(
        tmp_path / "bomb", bomb, policy=OWN_POLICY, limits=WorkloadLimits(processes=32, wall_seconds=3)
    )
    sampler_stop.set()
    sampler.join()
    bystander.join()
    assert result.outcome == Outcome.FAILED_CLIENT and "wall-time" in (result.failure_reason or "")
    assert peak <= 40  # the limit (plus the moment between fork and the sampler)
    assert not _user_pids(OWN_UID), "the bomb's processes outlived the job"
    other, other_paths = outcomes["other"]  # type: ignore[misc]
    assert other.outcome == Outcome.COMPLETED and report(other_paths)["ls"] == 0
    assert subprocess.run(["true"], check=False).returncode == 0  # the worker can still start programs


def test_filling_the_disk_past_its_limit_is_stopped(tmp_path: Path) -> None:
    one_big = "open('/job/big', 'wb').write(b'x' * (20 << 20))"
    result, _ = run(tmp_path / "big", one_big, limits=WorkloadLimits(disk_mb=8))
    assert result.outcome == Outcome.FAILED_CLIENT
    many = "import time\nfor i in range(20):\n    open(f'/job/f{i}', 'wb').write(b'x' * (1 << 20))\ntime.sleep(20)"
    started = time.monotonic()
    result, _ = run(tmp_path / "many", many, limits=WorkloadLimits(disk_mb=8))
    assert result.outcome == Outcome.FAILED_CLIENT and "disk limit" in (result.failure_reason or "")
    assert time.monotonic() - started < 10


def test_memory_past_its_limit_is_stopped(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path / "mem",
        MEMORY_HOG,
        limits=WorkloadLimits(memory_mb=64),
    )
    assert result.outcome == Outcome.FAILED_CLIENT


def test_outliving_its_wall_time_is_stopped_with_every_process(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "time.sleep(60)"
    )
    started = time.monotonic()
    result, _ = run(tmp_path / "slow", code, policy=OWN_POLICY, limits=WorkloadLimits(wall_seconds=1))
    assert result.outcome == Outcome.FAILED_CLIENT and "wall-time limit of 1s" in (
        result.failure_reason or ""
    )
    assert time.monotonic() - started < 8
    if os.geteuid() == 0:
        assert not _user_pids(OWN_UID)


def test_host_proc_is_out_of_reach(tmp_path: Path, worker_files: dict[str, Path]) -> None:
    me = os.getpid()
    secret = worker_files["keystore"]
    code = (
        f"report(worker_environ=attempt(lambda: open('/proc/{me}/environ').read()), "
        f"via_root=attempt(lambda: open('/proc/1/root{secret}').read()), "
        f"via_self=attempt(lambda: open('/proc/self/root{secret}').read()), "
        "hostname=attempt(lambda: open('/proc/sys/kernel/hostname', 'w').write('x')), "
        "sysrq=attempt(lambda: open('/proc/sysrq-trigger', 'w').write('h')), "
        "pids=sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
    )
    result, paths = run(tmp_path / "proc", code)
    seen = report(paths)
    assert result.outcome == Outcome.COMPLETED
    for name in ("worker_environ", "via_root", "via_self", "hostname", "sysrq"):
        assert seen[name].startswith("refused"), (name, seen[name])
    assert max(seen["pids"]) < 10 and me not in seen["pids"]


def test_cancelling_kills_the_sandbox(tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    result, _ = run(tmp_path / "c", "import time; time.sleep(60)", cancel=cancel)
    assert result.outcome == Outcome.FAILED_PROVIDER
    assert time.monotonic() - started < 8
