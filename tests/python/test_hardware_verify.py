"""The oracle's verdict on a hardware challenge's answers (gpusettle.hardware.verify), without a chain: an honest
answer passes, and each kind of tampering is named."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from gpusettle.hardware.models import CommitAnswer, CommitRequest, OpenAnswer, OpenRequest
from gpusettle.hardware.rows import compute_products
from gpusettle.hardware.verify import check_opening

N, GPUS, SEED = 24, 2, 7
CID = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def honest() -> tuple[CommitRequest, CommitAnswer, OpenRequest, dict[str, Any]]:
    products = compute_products(SEED, N, GPUS, ["cpu"] * GPUS)
    request = CommitRequest(offerId=1, challengeId=CID, seed=SEED, n=N, gpus=GPUS)
    commit = CommitAnswer(challengeId=CID, root="0x" + products.root.hex(), computeMs=1, device="cpu")
    opening = OpenRequest(challengeId=CID, rows=[0, 5, N + 3, 2 * N - 1], vectorSeed=99)
    return request, commit, opening, {"challengeId": CID, **products.open(opening.rows, opening.vectorSeed)}


def _check(honest: tuple[Any, ...], answer: dict[str, Any]) -> str | None:
    request, commit, opening, _ = honest
    return check_opening(request, commit, opening, OpenAnswer.model_validate(answer))


def test_an_honest_answer_passes(honest: tuple[Any, ...]) -> None:
    assert _check(honest, honest[3]) is None


def test_a_changed_row_is_not_under_the_root(honest: tuple[Any, ...]) -> None:
    answer = {**honest[3], "rows": [dict(r) for r in honest[3]["rows"]]}
    values = np.frombuffer(base64.b64decode(answer["rows"][1]["values"]), dtype="<f4").copy()
    values[3] += 0.5
    answer["rows"][1]["values"] = base64.b64encode(values.tobytes()).decode()
    assert _check(honest, answer) == "row 5 is not under the committed root"


def test_a_row_moved_to_another_index_is_not_under_the_root(honest: tuple[Any, ...]) -> None:
    rows = [dict(r) for r in honest[3]["rows"]]
    rows[0]["values"] = rows[1]["values"]  # row 5's values (and proof) offered as row 0
    rows[0]["proof"] = rows[1]["proof"]
    assert _check(honest, {**honest[3], "rows": rows}) == "row 0 is not under the committed root"


def test_a_forged_c_r_is_caught(honest: tuple[Any, ...]) -> None:
    cr = np.frombuffer(base64.b64decode(honest[3]["products"][1]), dtype="<f8").copy()
    cr[3] += 10.0
    products = [honest[3]["products"][0], base64.b64encode(cr.tobytes()).decode()]
    assert (
        _check(honest, {**honest[3], "products": products})
        == f"row {N + 3} does not match the C r sent for GPU 1"
    )


def test_wrong_shape_answers_are_named(honest: tuple[Any, ...]) -> None:
    assert "C r came for 1 GPUs" in str(_check(honest, {**honest[3], "products": honest[3]["products"][:1]}))
    rows = list(reversed(honest[3]["rows"]))
    assert "were asked for" in str(_check(honest, {**honest[3], "rows": rows}))
    short = [dict(r) for r in honest[3]["rows"]]
    short[0]["values"] = base64.b64encode(b"\x00" * 8).decode()
    assert _check(honest, {**honest[3], "rows": short}) == f"row 0 has 8 bytes, expected {4 * N}"


def test_a_wrong_product_committed_honestly_fails_the_row_check() -> None:
    """A worker that computed another product (another seed) and committed to it consistently."""
    wrong = compute_products(SEED + 100, N, GPUS, ["cpu"] * GPUS)
    request = CommitRequest(offerId=1, challengeId=CID, seed=SEED, n=N, gpus=GPUS)
    commit = CommitAnswer(challengeId=CID, root="0x" + wrong.root.hex(), computeMs=1, device="cpu")
    opening = OpenRequest(challengeId=CID, rows=[2], vectorSeed=1)
    answer = OpenAnswer.model_validate({"challengeId": CID, **wrong.open([2], 1)})
    problem = check_opening(request, commit, opening, answer)
    assert problem is not None and problem.startswith("row 2 is wrong")
