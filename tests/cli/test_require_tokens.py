"""`require_tokens`: the one balance check behind `token transfer`, `provider stake` and `dev fund --tokens`."""

from __future__ import annotations

from typing import Any

import pytest

from gpusettle.cli.context import require_tokens
from gpusettle.errors import InsufficientFundsError


class _Token:
    decimals = 18
    symbol = "GPUC"

    def __init__(self, balance: int) -> None:
        self.balance = balance

    def token_balance(self, owner: str) -> int:
        return self.balance


OWNER = "0x" + "ab" * 20


def _client(balance: int) -> Any:
    return _Token(balance)


def test_enough_tokens_passes() -> None:
    require_tokens(_client(5 * 10**18), OWNER, 5 * 10**18)


def test_too_few_tokens_says_both_amounts_in_tokens() -> None:
    with pytest.raises(InsufficientFundsError) as raised:
        require_tokens(_client(10**18), OWNER, 36 * 10**17, " (for the dispute bond)")
    assert raised.value.message == f"{OWNER} has 1 GPUC (for the dispute bond) but needs 3.6"
    assert raised.value.account == OWNER
