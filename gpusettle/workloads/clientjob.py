"""A client's command, run the safe way: inputs fetched and checked first, the program in the
bubblewrap sandbox under the job's limits, the outputs packed and sealed to the client.

Host layout of a job (under the worker's data directory): `in/` (inputs, read-only in the sandbox),
`work/` (the sandbox's `/job`, with `out/` for outputs), `logs/` (stdout and stderr, outside the
sandbox so the program cannot rewrite them after the fact)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from nacl.exceptions import CryptoError

from ..hashing import keccak256
from ..models import CommandWorkload, ContainerWorkload, Outcome
from .base import ProgressCallback, WorkloadResult
from .cgroups import create_job_cgroup
from .command import STOPPED_REASON, command_result_hash
from .io import InputError, OutputTooLarge, SealError, check_public_key, fetch_inputs, pack_and_seal
from .sandbox import ResolvedLimits, SandboxPolicy, resolve_limits, sandbox_argv
from .supervise import Exit, Usage, Watch, supervise
from .userlock import user_lock

__all__ = ["JobPaths", "outcome_of", "prepare", "run_sandboxed", "sealed_result"]

UsageCallback = Callable[[float, Usage], None]

_SHARED_UID_REASON = (
    "this worker has no cgroups and another sandboxed job runs as its user {uid}: jobs without cgroups"
    " would share one process limit, so they run one at a time (the provider can enable cgroups, or"
    " give each worker its own sandbox_uid)"
)

_STOPPED = {
    "wall_time": "it ran past its wall-time limit of {wall:.0f}s and was stopped",
    "memory": "it used more than its memory limit of {memory} MiB and was stopped",
    "disk": "its work directory and logs grew past its disk limit of {disk} MiB and it was stopped",
}


class JobPaths:
    """Where one job's files live on the host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs = root / "in"
        self.work = root / "work"
        self.out = root / "work" / "out"
        self.logs = root / "logs"


def prepare(
    workload: CommandWorkload | ContainerWorkload,
    paths: JobPaths,
    policy: SandboxPolicy,
    *,
    oracle_url: str,
    time_limit: float,
) -> ResolvedLimits | str:
    """Everything that can fail before the program starts (and before any GPU time is billed):
    the client's key, the limits, the network, the inputs. Returns the limits, or the reason."""
    if workload.encrypt_to is not None:
        try:
            check_public_key(workload.encrypt_to)
        except SealError as exc:
            return exc.message
    if workload.network and not policy.allow_network:
        return "the spec asks for the network but this provider's sandbox has none"
    limits = resolve_limits(workload.limits, policy, time_limit)
    if isinstance(limits, str):
        return limits
    try:
        fetch_inputs(
            workload.inputs or [],
            paths.inputs,
            allowed_prefixes=[f"{oracle_url.rstrip('/')}/v1", *policy.input_url_prefixes],
            max_total_bytes=policy.max_input_mb << 20,
        )
    except InputError as exc:
        return exc.message
    return limits


def _share(paths: JobPaths, uid: int) -> None:
    """Hand the work directory to the sandbox's user (the worker is root)."""
    for root, dirs, files in os.walk(paths.work):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), uid, uid)
    os.chown(paths.work, uid, uid)


def run_sandboxed(
    workload: CommandWorkload,
    paths: JobPaths,
    limits: ResolvedLimits,
    policy: SandboxPolicy,
    *,
    gpus: Sequence[int] = (),
    progress: ProgressCallback | None = None,
    on_usage: UsageCallback | None = None,
    cancel: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
    poll_interval: float = 0.25,
) -> WorkloadResult:
    """Run the workload in the sandbox and turn what it left into a result."""
    paths.out.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.inputs.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _share(paths, policy.sandbox_uid)
    stdout_path, stderr_path = paths.logs / "stdout.log", paths.logs / "stderr.log"
    # Room for the sandbox's own processes (bwrap outside, its init inside) besides the program's.
    cgroup = create_job_cgroup(
        f"gpusettle-{paths.root.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        memory_bytes=limits.memory_bytes,
        processes=limits.processes + 4,
        cpus=limits.cpus,
    )
    info_read, info_write = os.pipe()
    argv = sandbox_argv(
        workload.argv,
        work_dir=paths.work,
        input_dir=paths.inputs,
        limits=limits,
        network=bool(workload.network and policy.allow_network),
        gpus=gpus,
        policy=policy,
        info_fd=info_write,
        cgroup=cgroup,
    )

    def report(elapsed: float, usage: Usage) -> None:
        if on_usage is not None:
            on_usage(elapsed, usage)
        if progress is not None:
            fraction = min(elapsed / limits.wall_seconds, 0.99)
            progress(fraction, f"cpu {usage.cpu_seconds:.0f}s, mem {usage.rss_bytes >> 20} MiB")

    watch = Watch(
        wall_seconds=limits.wall_seconds,
        memory_bytes=limits.memory_bytes,
        disk_bytes=limits.disk_bytes,
        disk_path=paths.work,
        also_disk=(paths.logs,),  # the program writes its logs, so they are its disk use too
        cancel=cancel,
        on_start=on_start,
        on_usage=report,
        poll_interval=poll_interval,
    )
    program_uid = policy.sandbox_uid if os.geteuid() == 0 else os.geteuid()
    try:
        with user_lock(program_uid, exclusive=cgroup is None) as alone:
            if not alone:
                os.close(info_read)
                info_read = -1
                return WorkloadResult.failed(
                    Outcome.FAILED_PROVIDER, _SHARED_UID_REASON.format(uid=program_uid)
                )
            with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
                ended = supervise(
                    argv, cwd=paths.root, stdout=out, stderr=err, env={}, watch=watch, pass_fds=[info_write]
                )
    finally:
        os.close(info_write)
        started = False
        if info_read >= 0:
            with os.fdopen(info_read, "rb") as info:
                started = bool(info.read())
        if cgroup is not None:
            cgroup.remove()
    if ended.stopped == "cancelled":
        return WorkloadResult.failed(Outcome.FAILED_PROVIDER, STOPPED_REASON)
    if not started:
        why = stderr_path.read_bytes()[-300:].decode("utf-8", "replace").strip()
        return WorkloadResult.failed(Outcome.FAILED_PROVIDER, f"the sandbox could not be set up: {why}")
    outcome, reason, details = outcome_of(ended, limits)
    details["limits_enforced_by"] = (cgroup.describe() + " + " if cgroup else "") + "rlimits + watchdog"
    if workload.encrypt_to is None:
        return _plain_result(workload, paths, outcome, reason, details, stderr_path, stdout_path)
    return sealed_result(workload.encrypt_to, paths, outcome, reason, details, policy)


def outcome_of(ended: Exit, limits: ResolvedLimits) -> tuple[Outcome, str | None, dict[str, object]]:
    """The outcome of a finished run, its reason, and what it used."""
    reason: str | None = None
    if ended.stopped is not None:
        outcome = Outcome.FAILED_CLIENT
        reason = "the program " + _STOPPED[ended.stopped].format(
            wall=limits.wall_seconds, memory=limits.memory_bytes >> 20, disk=limits.disk_bytes >> 20
        )
    elif ended.code != 0:
        outcome, reason = Outcome.FAILED_CLIENT, f"the program exited with status {ended.code}"
    else:
        outcome = Outcome.COMPLETED
    details: dict[str, object] = {
        "exit_code": ended.code,
        "seconds": round(ended.seconds, 3),
        "cpu_seconds": round(ended.peak.cpu_seconds, 3),
        "peak_memory_bytes": ended.peak.rss_bytes,
        "peak_processes": ended.peak.processes,
    }
    return outcome, reason, details


def _plain_result(
    workload: CommandWorkload,
    paths: JobPaths,
    outcome: Outcome,
    reason: str | None,
    details: dict[str, object],
    stderr_path: Path,
    stdout_path: Path,
) -> WorkloadResult:
    """No client key: the result hash commits to the declared outputs (or stdout), as before."""
    if reason is not None:
        tail = stderr_path.read_bytes()[-400:].decode("utf-8", "replace").strip()
        return WorkloadResult.failed(outcome, reason + (f": {tail}" if tail else ""))
    try:
        result_hash = command_result_hash(paths.work, workload.outputs, stdout_path)
    except FileNotFoundError as exc:
        return WorkloadResult.failed(Outcome.FAILED_CLIENT, str(exc))
    return WorkloadResult(outcome=outcome, result_hash=result_hash, details=details)


def sealed_result(
    key: str,
    paths: JobPaths,
    outcome: Outcome,
    reason: str | None,
    details: dict[str, object],
    policy: SandboxPolicy,
) -> WorkloadResult:
    """Pack and seal; the public reason never quotes the program's output (that is the client's)."""
    logs = {"stdout.log": paths.logs / "stdout.log", "stderr.log": paths.logs / "stderr.log"}
    summary: dict[str, object] = {"outcome": outcome.name, "reason": reason, **details}

    def pack(out_dir: Path | None) -> bytes:
        return pack_and_seal(
            out_dir,
            logs=logs,
            result=summary,
            max_bytes=policy.max_output_mb << 20,
            log_tail=policy.log_tail_mb << 20,
            key_hex=key,
        )

    try:
        try:
            ciphertext = pack(paths.out)
        except OutputTooLarge as exc:
            outcome, reason = Outcome.FAILED_CLIENT, exc.message
            summary.update(outcome=outcome.name, reason=reason)
            ciphertext = pack(None)
    except (SealError, CryptoError) as exc:
        return WorkloadResult.failed(Outcome.FAILED_CLIENT, str(exc))
    result_hash = "0x" + keccak256(ciphertext).hex()
    public = None if reason is None else f"{reason} (its logs are in the sealed result)"
    return WorkloadResult(
        outcome=outcome,
        result_hash=result_hash,
        failure_reason=public,
        payload=ciphertext,
        details={**details, "sealed_bytes": len(ciphertext)},
        sealed=True,
    )
