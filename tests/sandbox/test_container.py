"""Container workloads: the engine's command line always; a real run only where Docker or Podman runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from gpusettle.models import ContainerWorkload, Outcome
from gpusettle.workloads.clientjob import JobPaths
from gpusettle.workloads.container import container_argv, container_engine, run_container
from gpusettle.workloads.io import open_sealed, unpack
from gpusettle.workloads.sandbox import ResolvedLimits, SandboxPolicy

KEY = PrivateKey.generate()
LIMITS = ResolvedLimits(cpus=1, memory_bytes=256 << 20, disk_bytes=64 << 20, processes=32, wall_seconds=60)


def _workload(image: str, argv: list[str]) -> ContainerWorkload:
    return ContainerWorkload(
        kind="container", image=image, argv=argv, encrypt_to="0x" + bytes(KEY.public_key).hex()
    )


def test_the_engine_runs_the_image_with_the_sandbox_rules(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path)
    work = _workload("example.org/trainer@sha256:" + "a" * 64, ["python", "train.py"])
    argv = container_argv("docker", work, paths, LIMITS, name="gpusettle-job-7", network=False, gpus=[1])
    text = " ".join(argv)
    for rule in (
        "--network none",
        "--read-only",
        "--cap-drop ALL",
        "no-new-privileges",
        "--user 65534:65534",
        "--pids-limit 32",
        f"--memory {256 << 20}",
        "--gpus device=1",
        "--rm",
    ):
        assert rule in text, rule
    mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]
    assert mounts == [f"{paths.work}:/job:rw", f"{paths.inputs}:/job/in:ro"]  # nothing else of the host
    assert argv[-3:] == [work.image, "python", "train.py"]
    open_net = container_argv("docker", work, paths, LIMITS, name="n", network=True, gpus=[])
    assert "bridge" in open_net and "--gpus" not in open_net


def test_a_local_image_runs_and_its_outputs_come_back_sealed(tmp_path: Path) -> None:
    engine = container_engine()
    if engine is None:
        pytest.skip(
            "no container engine runs here (no docker or podman daemon answers `info`); "
            "the sandboxed command path covers the same rules"
        )
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("building the local test image needs a static busybox on the host")
    context = tmp_path / "image"
    context.mkdir()
    shutil.copy(busybox, context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n'
    )
    subprocess.run([engine, "build", "-q", "-t", "localhost/gpusettle-test:1", str(context)], check=True)
    digest = (
        subprocess.run(
            [engine, "image", "inspect", "--format", "{{.Id}}", "localhost/gpusettle-test:1"],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .removeprefix("sha256:")
    )
    work = _workload(f"localhost/gpusettle-test@sha256:{digest}", ["sh", "-c", "echo 42 > /job/out/answer"])
    result = run_container(
        work, JobPaths(tmp_path / "job"), LIMITS, SandboxPolicy(), engine=engine, name="gs-test"
    )
    assert result.outcome == Outcome.COMPLETED and result.payload is not None
    unpack(open_sealed(result.payload, bytes(KEY)), tmp_path / "got")
    assert (tmp_path / "got" / "out" / "answer").read_text() == "42\n"
