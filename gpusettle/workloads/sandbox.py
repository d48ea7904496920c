"""The sandbox a client's command runs in: bubblewrap (Debian's `bubblewrap`), plus rlimits and the
supervisor's watchdog.

What the program sees: a read-only system (`/usr` and the links to it, a few files of `/etc`, and the
runtimes the provider lists, by default the worker's own Python so NumPy is at hand), a private
writable work directory at `/job` (outputs go to `/job/out`), the job's inputs read-only at
`/job/in`, its own `/proc` (a new PID namespace: no other process is visible), a private `/tmp`
(a tmpfs of at most the disk limit), a minimal `/dev` plus the device nodes of the job's GPUs only,
and no network unless the provider allows it and the spec asks for it. Nothing else of the host: not
the worker's home, keystore, state database or other jobs' directories.

When the worker runs as root, the program itself runs as an unprivileged user (nobody by default)
with no capabilities and `no_new_privs`, dropped by `setpriv` inside the sandbox; otherwise bubblewrap
puts it in a user namespace without capabilities.

Limits, and how each is enforced. When the worker can make cgroups (root, or a delegated subtree; see
cgroups.py), the job gets its own: memory (hard, no swap), pids and CPU quota are the kernel's. Without:
- processes: RLIMIT_NPROC (a fork bomb gets EAGAIN);
- memory: RLIMIT_AS when the job has no GPU (CUDA reserves far more address space than it uses);
and in both cases:
- memory: the watchdog also sums the resident memory of the process tree (stopped when over);
- disk: RLIMIT_FSIZE per file, and the watchdog sums the work directory's blocks (stopped when over);
- CPU: CPU affinity to `cpus` cores (taskset) and RLIMIT_CPU at cpus x wall time;
- wall time: the watchdog.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GpusettleError
from ..models import WorkloadLimits
from .cgroups import JobCgroup

__all__ = [
    "JOB_DIR",
    "ResolvedLimits",
    "SandboxPolicy",
    "SandboxUnavailable",
    "bwrap_binary",
    "default_runtime_paths",
    "gpu_device_nodes",
    "resolve_limits",
    "sandbox_argv",
]

JOB_DIR = "/job"
"""Where the work directory appears inside the sandbox."""

_ETC_FILES = (
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/ssl/certs",
    "/etc/ca-certificates",
)
_NVIDIA_SHARED = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")


class SandboxUnavailable(GpusettleError):
    """bubblewrap is not installed or cannot build a sandbox here."""


def bwrap_binary() -> str:
    """The bwrap executable; SandboxUnavailable when it is missing."""
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so client code cannot be sandboxed",
            "install it (`apt-get install bubblewrap`), or start the worker with --unsandboxed if you "
            "accept running clients' programs with the worker's own rights",
        )
    return found


def default_runtime_paths() -> tuple[str, ...]:
    """The worker's own Python (its installation and its virtual environment), exposed read-only."""
    paths = []
    for prefix in (sys.base_prefix, sys.prefix):
        real = os.path.realpath(prefix)
        if not real.startswith("/usr") and real not in paths:
            paths.append(real)
    return tuple(paths)


@dataclass(frozen=True)
class SandboxPolicy:
    """The provider's bounds on client programs (the offer's terms for what a job may use)."""

    allow_network: bool = False
    """Whether a spec that asks for the network gets it."""
    max_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_memory_mb: int = 8192
    max_disk_mb: int = 10240
    max_processes: int = 512
    max_output_mb: int = 1024
    """Largest packed output (before sealing) a job may return."""
    max_input_mb: int = 4096
    """Largest total size of a job's inputs."""
    log_tail_mb: int = 4
    """How much of the end of stdout and of stderr goes back to the client."""
    runtime_paths: tuple[str, ...] = field(default_factory=default_runtime_paths)
    """Host directories exposed read-only at the same path (language runtimes, model caches)."""
    input_url_prefixes: tuple[str, ...] = ()
    """URLs inputs may come from besides the oracle's blob store (empty: only the oracle)."""
    sandbox_uid: int = 65534
    """The user programs run as when the worker is root (nobody)."""


@dataclass(frozen=True)
class ResolvedLimits:
    """The limits one run gets."""

    cpus: int
    memory_bytes: int
    disk_bytes: int
    processes: int
    wall_seconds: float


def resolve_limits(
    asked: WorkloadLimits | None, policy: SandboxPolicy, time_limit: float
) -> ResolvedLimits | str:
    """The spec's limits within the provider's bounds, or why they do not fit."""
    asked = asked or WorkloadLimits()
    bounds = {
        "cpus": (asked.cpus, policy.max_cpus),
        "memory_mb": (asked.memory_mb, policy.max_memory_mb),
        "disk_mb": (asked.disk_mb, policy.max_disk_mb),
        "processes": (asked.processes, policy.max_processes),
    }
    for name, (value, bound) in bounds.items():
        if value is not None and value > bound:
            return f"the spec asks for {name}={value} but this provider allows at most {bound}"
    wall = float(asked.wall_seconds) if asked.wall_seconds is not None else time_limit
    return ResolvedLimits(
        cpus=asked.cpus or policy.max_cpus,
        memory_bytes=(asked.memory_mb or policy.max_memory_mb) << 20,
        disk_bytes=(asked.disk_mb or policy.max_disk_mb) << 20,
        processes=asked.processes or policy.max_processes,
        wall_seconds=min(wall, time_limit),
    )


def gpu_device_nodes(gpus: Sequence[int], dev: Path = Path("/dev")) -> list[str]:
    """The device nodes a job with GPUs `gpus` gets: its own /dev/nvidiaN and the shared control
    nodes (never another job's GPU)."""
    if not gpus:
        return []
    nodes = [str(dev / f"nvidia{i}") for i in gpus]
    nodes += [str(dev / Path(p).name) for p in _NVIDIA_SHARED]
    return [n for n in nodes if os.path.exists(n)]


def _tasks_of(uid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                count += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            continue
    return count


def sandbox_argv(
    argv: Sequence[str],
    *,
    work_dir: Path,
    input_dir: Path | None,
    limits: ResolvedLimits,
    network: bool,
    gpus: Sequence[int],
    policy: SandboxPolicy,
    info_fd: int | None = None,
    device_nodes: Sequence[str] | None = None,
    cgroup: JobCgroup | None = None,
) -> list[str]:
    """The full command line: the job's cgroup, rlimits, CPU affinity, bubblewrap, the privilege drop,
    the program."""
    as_root = os.geteuid() == 0
    command = cgroup.join_prefix() if cgroup is not None else []
    command += [
        shutil.which("prlimit") or "/usr/bin/prlimit",
        f"--fsize={limits.disk_bytes}",
        "--nofile=4096",
        f"--cpu={int(limits.cpus * limits.wall_seconds) + 5}",
        "--core=0",
    ]
    if cgroup is None:
        # No cgroup: RLIMIT_NPROC, which counts every task of the user. As root the program runs as its
        # own user; otherwise it shares the worker's, whose current tasks are added to the budget.
        nproc = limits.processes if as_root else limits.processes + _tasks_of(os.geteuid())
        command.append(f"--nproc={nproc}")
        if not gpus:
            # CUDA reserves far more address space than it uses, so only without GPUs.
            command.append(f"--as={limits.memory_bytes + (1 << 30)}")
    command.append("--")
    available = os.cpu_count() or 1
    if limits.cpus < available:
        command += [shutil.which("taskset") or "/usr/bin/taskset", "-c", f"0-{limits.cpus - 1}"]
    command.append(bwrap_binary())
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    command += ["--ro-bind", "/usr", "/usr"]
    for path in _ETC_FILES:
        if os.path.exists(path):
            command += ["--ro-bind", path, path]
    # The private /tmp is mounted before the runtimes: mounted after, it would hide one that lives
    # under /tmp (a worker's virtual environment there), and no client program could start.
    command += [
        "--perms",
        "1777",
        "--size",
        str(min(limits.disk_bytes, limits.memory_bytes)),
        "--tmpfs",
        "/tmp",
    ]
    made: set[str] = {"/tmp"}
    for path in policy.runtime_paths:
        if not os.path.exists(path):
            continue
        # The host's parents may be private (e.g. /root is 0700); in the sandbox they only lead to the
        # runtime, so they are made traversable.
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in made and not str(parent).startswith(("/usr", "/etc")):
                made.add(str(parent))
                command += ["--perms", "0755", "--dir", str(parent)]
        command += ["--ro-bind", path, path]
    command += ["--proc", "/proc", "--dev", "/dev"]
    for node in gpu_device_nodes(gpus) if device_nodes is None else device_nodes:
        command += ["--dev-bind", node, node]
    command += ["--bind", str(work_dir), JOB_DIR]
    if input_dir is not None:
        command += ["--ro-bind", str(input_dir), f"{JOB_DIR}/in"]
    command += ["--chdir", JOB_DIR, "--die-with-parent", "--new-session", "--clearenv"]
    if as_root:
        command += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not network:
            command.append("--unshare-net")
    else:
        command += ["--unshare-all", "--cap-drop", "ALL"]
        if network:
            command.append("--share-net")
    command += ["--hostname", "gpusettle-job"]
    env = {
        "HOME": JOB_DIR,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PATH": ":".join(
            [*(f"{p}/bin" for p in reversed(policy.runtime_paths)), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "JOB_INPUT_DIR": f"{JOB_DIR}/in",
        "JOB_OUTPUT_DIR": f"{JOB_DIR}/out",
        "OMP_NUM_THREADS": str(limits.cpus),
        "PYTHONDONTWRITEBYTECODE": "1",
        "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in gpus),
    }
    for key, value in env.items():
        command += ["--setenv", key, value]
    if info_fd is not None:
        command += ["--info-fd", str(info_fd)]
    command.append("--")
    if as_root:
        command += [
            shutil.which("setpriv") or "/usr/bin/setpriv",
            f"--reuid={policy.sandbox_uid}",
            f"--regid={policy.sandbox_uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    return command + list(argv)
