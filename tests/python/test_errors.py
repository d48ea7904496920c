from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

from gpusettle import errors, models
from gpusettle.errors import (
    ContractError,
    GpusettleError,
    InsufficientFundsError,
    RpcUnavailableError,
    UnknownAccountError,
    WrongChainError,
    WrongPasswordError,
)


def test_every_error_derives_from_the_root() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)]
    assert len(classes) == len(errors.__all__)
    assert all(issubclass(cls, GpusettleError) for cls in classes)
    assert issubclass(WrongPasswordError, errors.KeystoreError)


def test_contract_error_carries_name_args_and_a_hint() -> None:
    exc = ContractError("JobEscrowWrongStatus", (5, 3, 2))
    assert exc.name == "JobEscrowWrongStatus"
    assert exc.error_args == (5, 3, 2)
    assert str(exc).startswith("the contract reverted with JobEscrowWrongStatus(5, 3, 2)")
    assert "gpusettle job status" in str(exc)
    unknown = ContractError("SomethingNew", (b"\x01\x02",))
    assert "SomethingNew(0x0102)" in str(unknown) and unknown.hint


@pytest.mark.parametrize(
    ("exc", "what", "todo"),
    [
        (WrongChainError(1, 5, "mainnet"), "chain id 5 but expected chain id 1", "point the RPC URL"),
        (
            RpcUnavailableError("http://localhost:8545", "connection refused"),
            "connection refused",
            "check the URL",
        ),
        (InsufficientFundsError("0xabc", 10, 3, "GPUC"), "has 3 GPUC but needs 10", "send more GPUC"),
        (
            UnknownAccountError("bob", ["alice"]),
            "no account named 'bob' (accounts: alice)",
            "gpusettle wallet new",
        ),
    ],
)
def test_messages_say_what_and_what_to_do(exc: GpusettleError, what: str, todo: str) -> None:
    assert what in exc.message
    assert exc.hint is not None and todo in exc.hint
    assert str(exc) == f"{exc.message}. {exc.hint}"


def test_every_model_field_is_documented() -> None:
    model_classes = [
        obj
        for _, obj in inspect.getmembers(models, inspect.isclass)
        if issubclass(obj, BaseModel) and obj.__module__ == models.__name__
    ]
    assert len(model_classes) >= 10
    undocumented = [
        f"{cls.__name__}.{name}"
        for cls in model_classes
        for name, field in cls.model_fields.items()
        if not field.description
    ]
    assert undocumented == []


def test_every_escrow_error_has_a_hint_of_its_own() -> None:
    """A refusal a client or provider meets says what to do; none falls back to the generic line."""
    import re
    from pathlib import Path

    from gpusettle.chain.revert import _EXTRA_HINTS

    root = Path(__file__).resolve().parents[2]
    text = (root / "interfaces" / "IJobEscrow.sol").read_text() + (
        root / "interfaces" / "ILeaseEscrow.sol"
    ).read_text()
    names = set(re.findall(r"error ((?:Job|Lease)Escrow\w+)\(", text))
    assert len(names) > 60
    missing = sorted(n for n in names if n not in errors._CONTRACT_HINTS and n not in _EXTRA_HINTS)
    assert missing == [], missing
