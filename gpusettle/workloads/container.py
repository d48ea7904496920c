"""A client's OCI image, run by Docker or Podman when the machine has one, with the sandbox's rules:
pinned by digest, no host mount but the job's work directory (and its inputs, read-only), no network
unless allowed and asked, an unprivileged user without capabilities, the job's limits (the engine's
--cpus/--memory/--pids-limit, the watchdog for disk and wall time), only the job's GPUs (the NVIDIA
container runtime's --gpus), and outputs sealed to the client as for a sandboxed command."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence

from ..models import ContainerWorkload, Outcome
from .base import WorkloadResult
from .clientjob import JobPaths, outcome_of, sealed_result
from .command import STOPPED_REASON
from .sandbox import JOB_DIR, ResolvedLimits, SandboxPolicy
from .supervise import Watch, supervise

__all__ = ["container_argv", "container_engine", "run_container"]


def container_engine() -> str | None:
    """docker or podman, when one is installed and its daemon (or service) answers; else None."""
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path is None:
            continue
        try:
            done = subprocess.run([path, "info"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return path
    return None


def container_argv(
    engine: str,
    workload: ContainerWorkload,
    paths: JobPaths,
    limits: ResolvedLimits,
    *,
    name: str,
    network: bool,
    gpus: Sequence[int],
    uid: int = 65534,
) -> list[str]:
    """`<engine> run ...` for the workload."""
    command = [
        engine,
        "run",
        "--rm",
        "--name",
        name,
        "--pull",
        "never" if "localhost/" in workload.image else "missing",
        "--read-only",
        "--tmpfs",
        f"/tmp:rw,size={min(limits.disk_bytes, limits.memory_bytes)}",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        f"{uid}:{uid}",
        "--cpus",
        str(limits.cpus),
        "--memory",
        str(limits.memory_bytes),
        "--pids-limit",
        str(limits.processes),
        "--network",
        "bridge" if network else "none",
        "-v",
        f"{paths.work}:{JOB_DIR}:rw",
        "-v",
        f"{paths.inputs}:{JOB_DIR}/in:ro",
        "--workdir",
        JOB_DIR,
        "-e",
        f"JOB_INPUT_DIR={JOB_DIR}/in",
        "-e",
        f"JOB_OUTPUT_DIR={JOB_DIR}/out",
    ]
    if gpus:
        command += ["--gpus", "device=" + ",".join(str(i) for i in gpus)]
    command.append(workload.image)
    return command + list(workload.argv or [])


def run_container(
    workload: ContainerWorkload,
    paths: JobPaths,
    limits: ResolvedLimits,
    policy: SandboxPolicy,
    *,
    engine: str,
    name: str,
    gpus: Sequence[int] = (),
    cancel: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> WorkloadResult:
    """Run the image and seal what it wrote to /job/out, as `run_sandboxed` does for a command."""
    for path in (paths.out, paths.logs, paths.inputs):
        path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(paths.work, policy.sandbox_uid, policy.sandbox_uid)
        shutil.chown(paths.out, policy.sandbox_uid, policy.sandbox_uid)
    argv = container_argv(
        engine,
        workload,
        paths,
        limits,
        name=name,
        network=bool(workload.network and policy.allow_network),
        gpus=gpus,
        uid=policy.sandbox_uid,
    )
    watch = Watch(
        wall_seconds=limits.wall_seconds,
        disk_bytes=limits.disk_bytes,
        disk_path=paths.work,
        cancel=cancel,
        on_start=on_start,
    )
    try:
        with (paths.logs / "stdout.log").open("wb") as out, (paths.logs / "stderr.log").open("wb") as err:
            ended = supervise(argv, cwd=paths.root, stdout=out, stderr=err, env=None, watch=watch)
    finally:
        # Killing the client process does not stop the container: the engine does.
        subprocess.run([engine, "rm", "-f", name], capture_output=True, timeout=60, check=False)
    if ended.stopped == "cancelled":
        return WorkloadResult.failed(Outcome.FAILED_PROVIDER, STOPPED_REASON)
    outcome, reason, details = outcome_of(ended, limits)
    if ended.code == 125:  # the engine's own failure (no such image, bad option): not the client's program
        return WorkloadResult.failed(
            Outcome.FAILED_PROVIDER, "the container engine could not start the image"
        )
    return sealed_result(workload.encrypt_to, paths, outcome, reason, details, policy)
