"""A client's own command (training, rendering, inference), run without a shell in a job directory.

The result hash commits to the declared output files, in the spec's order:
keccak256( for each output: keccak256(path as UTF-8) || keccak256(file bytes) ); with no declared
outputs it is keccak256 of the command's standard output. A command that exits non-zero, cannot be
started, leaves a declared output missing or runs past its time limit is the client's failure
(FailedClient: the GPU time it used is paid); the result hash is then keccak256 of the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..hashing import keccak256
from ..models import CommandWorkload, Outcome
from .base import ProgressCallback, WorkloadResult
from .supervise import Usage, Watch, supervise

__all__ = ["STOPPED_REASON", "command_result_hash", "run_command"]

_CHUNK = 1 << 20


def _file_hash(path: Path) -> bytes:
    # pysha3's keccak object hashes incrementally, so a multi-GB checkpoint is never read whole.
    try:
        from sha3 import keccak_256
    except ImportError:
        return keccak256(path.read_bytes())
    hasher = keccak_256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    digest: bytes = hasher.digest()
    return digest


def command_result_hash(job_dir: Path, outputs: Sequence[str], stdout_path: Path) -> str:
    """The result hash of a finished command (see the module docstring); FileNotFoundError names a
    declared output that is missing."""
    if not outputs:
        return "0x" + _file_hash(stdout_path).hex()
    parts = []
    root = job_dir.resolve()
    for name in outputs:
        path = (job_dir / name).resolve()
        if root not in path.parents:
            raise FileNotFoundError(f"output {name!r} resolves outside the job directory")
        if not path.is_file():
            raise FileNotFoundError(f"declared output {name!r} was not written")
        parts.append(keccak256(name.encode("utf-8")) + _file_hash(path))
    return "0x" + keccak256(b"".join(parts)).hex()


STOPPED_REASON = "the worker stopped while the job was running; the run was lost and is not billed"
"""The failure reason of a run the worker itself ended (FailedProvider: nothing is paid)."""


def run_command(
    spec: CommandWorkload,
    job_dir: Path,
    *,
    time_limit: float | None = None,
    progress: ProgressCallback | None = None,
    env: Mapping[str, str] | None = None,
    poll_interval: float = 0.5,
    cancel: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> WorkloadResult:
    """Run `spec.argv` in `job_dir` (stdout and stderr to files there) and hash its outputs, without a
    sandbox (the worker does this only when its provider explicitly allows unsandboxed commands).

    `time_limit` (seconds) stops the command when the job can no longer be paid for; `cancel` stops it
    when the worker stops (a FailedProvider result); `on_start` gets the process group id.
    """
    job_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = job_dir / "stdout.log"
    stderr_path = job_dir / "stderr.log"

    def report(elapsed: float, usage: Usage) -> None:
        if progress:
            fraction = min(elapsed / time_limit, 0.99) if time_limit else 0.0
            progress(fraction, f"running {elapsed:.0f}s, {usage.rss_bytes >> 20} MiB")

    watch = Watch(
        wall_seconds=time_limit,
        cancel=cancel,
        on_start=on_start,
        on_usage=report,
        poll_interval=poll_interval,
    )
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        try:
            ended = supervise(spec.argv, cwd=job_dir, stdout=out, stderr=err, env=env, watch=watch)
        except OSError as exc:
            return WorkloadResult.failed(
                Outcome.FAILED_CLIENT, f"cannot start {spec.argv[0]!r}: {exc.strerror or exc}"
            )
    if ended.stopped == "cancelled":
        return WorkloadResult.failed(Outcome.FAILED_PROVIDER, STOPPED_REASON)
    if ended.stopped == "wall_time":
        return WorkloadResult.failed(
            Outcome.FAILED_CLIENT, f"the command ran past its time limit of {time_limit:.0f}s and was stopped"
        )
    code = ended.code
    if code != 0:
        tail = stderr_path.read_bytes()[-400:].decode("utf-8", "replace").strip()
        reason = f"the command exited with status {code}" + (f": {tail}" if tail else "")
        return WorkloadResult.failed(Outcome.FAILED_CLIENT, reason)
    try:
        result_hash = command_result_hash(job_dir, spec.outputs, stdout_path)
    except FileNotFoundError as exc:
        return WorkloadResult.failed(Outcome.FAILED_CLIENT, str(exc))
    if progress:
        progress(1.0, "done")
    return WorkloadResult(
        outcome=Outcome.COMPLETED,
        result_hash=result_hash,
        details={"exit_code": code, "outputs": list(spec.outputs), "seconds": ended.seconds},
    )
