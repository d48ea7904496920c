"""`make demo` keeps its work directory (logs, stores, keystores) when it fails, deletes it after a
success unless --keep (`make demo KEEP=1`), and says which it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpusettle import demo
from gpusettle.errors import GpusettleError


def _fake_run(outcome: int | BaseException) -> object:
    def run_demo(workdir: Path, *, n: int | None, repetitions: int | None, explore: bool) -> int:
        (workdir / "logs").mkdir()
        (workdir / "logs" / "oracle.log").write_text("oracle log\n")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return run_demo


@pytest.fixture
def workdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Every work directory the demo makes, created under tmp_path."""
    made: list[Path] = []

    def mkdtemp(prefix: str) -> str:
        path = tmp_path / f"{prefix}{len(made)}"
        path.mkdir()
        made.append(path)
        return str(path)

    monkeypatch.setattr(demo.tempfile, "mkdtemp", mkdtemp)
    return made


@pytest.mark.parametrize(
    "outcome, status",
    [(GpusettleError("the worker exited"), 1), (1, 1), (KeyboardInterrupt(), 130)],
    ids=["error", "balances-mismatch", "interrupted"],
)
def test_a_failed_run_keeps_its_logs(
    monkeypatch: pytest.MonkeyPatch,
    workdirs: list[Path],
    capsys: pytest.CaptureFixture[str],
    outcome: int | BaseException,
    status: int,
) -> None:
    monkeypatch.setattr(demo, "run_demo", _fake_run(outcome))
    assert demo.main([]) == status
    (workdir,) = workdirs
    assert (workdir / "logs" / "oracle.log").read_text() == "oracle log\n"
    err = capsys.readouterr().err
    assert f"kept for you to read: {workdir}" in err and "oracle.log" in err


def test_a_successful_run_deletes_it_and_says_how_to_keep_it(
    monkeypatch: pytest.MonkeyPatch, workdirs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "run_demo", _fake_run(0))
    assert demo.main([]) == 0
    (workdir,) = workdirs
    assert not workdir.exists()
    out = capsys.readouterr().out
    assert "make demo KEEP=1" in out and "--keep" in out
    assert out.startswith("options: --keep"), "the options are printed before the run"


def test_keep_keeps_a_successful_run(
    monkeypatch: pytest.MonkeyPatch, workdirs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "run_demo", _fake_run(0))
    assert demo.main(["--keep"]) == 0
    (workdir,) = workdirs
    assert (workdir / "logs" / "oracle.log").is_file()
    assert f"kept the work directory {workdir}" in capsys.readouterr().out


def test_help_names_the_make_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        demo.main(["--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert "make demo KEEP=1" in out and "make demo EXPLORE=1" in out


@pytest.mark.parametrize("argv, explore", [([], False), (["--explore"], True)])
def test_explore_reaches_the_run(
    monkeypatch: pytest.MonkeyPatch, workdirs: list[Path], argv: list[str], explore: bool
) -> None:
    seen: list[bool] = []

    def run_demo(workdir: Path, *, n: int | None, repetitions: int | None, explore: bool) -> int:
        seen.append(explore)
        return 0

    monkeypatch.setattr(demo, "run_demo", run_demo)
    assert demo.main(argv) == 0
    assert seen == [explore]
