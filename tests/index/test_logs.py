"""chain.logs.LogReader without a chain: which RPC errors mean "too wide", and how the chunk adapts."""

from __future__ import annotations

import pytest

from gpusettle.chain.logs import LogRangeError, LogReader, is_range_error

REFUSALS = [
    '{"code": -32600, "message": "eth_getLogs is limited to a 10,000 range"}',  # Alchemy
    '{"code": -32005, "message": "query returned more than 10000 results"}',  # Infura
    '{"code": -32602, "message": "block range is too wide"}',  # geth-style limits, Base
    '{"code": -32000, "message": "exceed maximum block range: 5000"}',  # BSC/Arbitrum nodes
    '{"code": -32614, "message": "eth_getLogs is limited to a 5 range"}',  # QuickNode
    '{"code": -32000, "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"}',
]
OTHER = [
    '{"code": -32000, "message": "execution reverted"}',
    '{"code": -32601, "message": "the method eth_foo does not exist/is not available"}',
]


@pytest.mark.parametrize("message", REFUSALS)
def test_hosted_rpc_refusals_are_range_errors(message: str) -> None:
    assert is_range_error(ValueError(message))


@pytest.mark.parametrize("message", OTHER)
def test_other_errors_are_not(message: str) -> None:
    assert not is_range_error(ValueError(message))


def test_a_dead_endpoint_is_not_a_range_error() -> None:
    class ConnectionError_(Exception):
        pass

    ConnectionError_.__name__ = "ConnectionError"
    assert not is_range_error(ConnectionError_("Max retries exceeded with url: /"))


def test_chunks_halve_cover_every_block_once_and_never_regrow_past_a_refusal() -> None:
    limit = 37
    asked: list[tuple[int, int]] = []

    def fetch(a: int, b: int) -> list[int]:
        if b - a + 1 > limit:
            raise ValueError('{"code": -32005, "message": "block range too large"}')
        asked.append((a, b))
        return list(range(a, b + 1))

    reader = LogReader(initial_chunk=1000, max_chunk=1000, grow_after=2)
    got = [n for _a, _b, chunk in reader.chunks(fetch, 5, 2004) for n in chunk]
    assert got == list(range(5, 2005))
    assert reader.refusals == 5  # 1000 -> 500 -> 250 -> 125 -> 62 -> 31
    assert all(b - a + 1 <= limit for a, b in asked)
    assert reader.ceiling < 62 and reader.chunk <= reader.ceiling


def test_a_refused_single_block_is_an_error_with_a_hint() -> None:
    def fetch(a: int, b: int) -> list[int]:
        raise ValueError("response size exceeded")

    with pytest.raises(LogRangeError) as err:
        list(LogReader(initial_chunk=4).chunks(fetch, 10, 20))
    assert err.value.hint is not None and "--rpc-url" in err.value.hint


def test_errors_that_are_not_about_ranges_pass_through() -> None:
    def fetch(a: int, b: int) -> list[int]:
        raise ValueError("execution reverted")

    with pytest.raises(ValueError, match="execution reverted"):
        list(LogReader().chunks(fetch, 1, 5))
