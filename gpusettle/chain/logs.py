"""The one way gpusettle reads event logs: adaptive chunks and a reorg-aware cursor.

Hosted RPCs refuse wide `eth_getLogs` ranges (a block-range cap, a result-count cap or a response-size
cap, each with its own wording). `LogReader` starts with a large chunk, halves it whenever the node says
the range or the answer is too big, and grows it again after a run of successes, so one code path works
on anvil (any range) and on a provider that allows 500 blocks. Everything that reads logs (worker,
oracle, CLI listings, the index) goes through it.

`BlockCursor` remembers the hashes of the blocks a follower has read; before it reads further it checks
the last one is still on the chain and, if not, walks back to the newest block both chains share, so the
caller can undo what it derived from the blocks that left the chain.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from web3 import Web3
from web3.types import RPCEndpoint

from ..errors import GpusettleError, RpcUnavailableError

__all__ = [
    "BlockCursor",
    "CursorStore",
    "LogRangeError",
    "LogReader",
    "ReorgTooDeepError",
    "RpcLogSource",
    "is_range_error",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How nodes and hosted RPCs word "this range or this answer is too big" (geth, erigon, anvil, Alchemy,
# Infura, QuickNode, Ankr, BlastAPI, publicnode, Base and Arbitrum nodes).
_RANGE_MARKERS = (
    "block range",
    "range is too",
    "range too",
    "too large",
    "too many",
    "too big",
    "exceed",
    "more than",
    "limit",
    "response size",
    "query timeout",
    "timed out",
    "-32005",
    "-32602: query",
    "payload",
    "413",
)


def is_range_error(exc: BaseException) -> bool:
    """True when an eth_getLogs failure says the range or the answer was too big (so a smaller range helps)."""
    if "connection" in type(exc).__name__.lower():
        return False  # "Max retries exceeded" is a dead endpoint, not a wide range
    text = str(exc).lower()
    return any(marker in text for marker in _RANGE_MARKERS)


class LogRangeError(GpusettleError):
    """The RPC refused even a one-block log query."""

    def __init__(self, block: int, detail: str) -> None:
        super().__init__(
            f"the RPC refused the logs of block {block} even alone: {detail}",
            "use another RPC endpoint (--rpc-url); this one cannot serve the contracts' events",
        )


class ReorgTooDeepError(GpusettleError):
    """A reorganisation went deeper than the blocks the cursor remembers."""

    def __init__(self, oldest: int) -> None:
        super().__init__(
            f"the chain reorganised below block {oldest}, the oldest block this index remembers",
            "rebuild the index from scratch (delete its database and run `gpusettle index run` again)",
        )


class RpcLogSource:
    """Raw JSON-RPC access for log followers: hex strings in, plain dicts out (no web3 formatters, which
    cost more than the decoding itself at index speeds)."""

    def __init__(self, w3: Web3, rpc_url: str = "the RPC endpoint") -> None:
        self.w3 = w3
        self.rpc_url = rpc_url

    def _request(self, method: str, params: Sequence[Any]) -> Any:
        try:
            response = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise RpcUnavailableError(self.rpc_url, type(exc).__name__) from None
        except Exception as exc:
            # requests' and aiohttp's connection errors have no common base with OSError.
            if "connection" in type(exc).__name__.lower() or "timeout" in type(exc).__name__.lower():
                raise RpcUnavailableError(self.rpc_url, type(exc).__name__) from None
            raise
        body = cast(Mapping[str, Any], response)
        if body.get("error"):
            raise ValueError(json.dumps(body["error"]))
        return body.get("result")

    def head(self) -> int:
        """The latest block number."""
        return int(self._request("eth_blockNumber", []), 16)

    def block(self, number: int) -> tuple[str, int] | None:
        """(hash, timestamp) of block `number`, or None past the head."""
        got = self._request("eth_getBlockByNumber", [hex(number), False])
        if got is None:
            return None
        return str(got["hash"]), int(got["timestamp"], 16)

    def gas_used(self, tx_hash: str) -> int | None:
        """Gas a mined transaction used (None when the node does not know it)."""
        got = self._request("eth_getTransactionReceipt", [tx_hash])
        return int(got["gasUsed"], 16) if got else None

    def logs(
        self, addresses: Sequence[str], topics: Sequence[Any] | None, start: int, end: int
    ) -> list[dict[str, Any]]:
        """Raw logs of `addresses` in blocks start..end (inclusive)."""
        query: dict[str, Any] = {"address": list(addresses), "fromBlock": hex(start), "toBlock": hex(end)}
        if topics:
            query["topics"] = list(topics)
        return list(self._request("eth_getLogs", [query]))


class LogReader:
    """Reads a block range in chunks sized to what the RPC accepts.

    The chunk size is learned: halved on a range/size refusal, doubled again after `grow_after` chunks
    in a row succeed, never above `max_chunk` nor up to a span the RPC refused. One reader per RPC endpoint keeps what it learned.
    """

    def __init__(self, *, initial_chunk: int = 10_000, max_chunk: int = 100_000, grow_after: int = 4) -> None:
        if initial_chunk < 1 or max_chunk < initial_chunk:
            raise ValueError("need 1 <= initial_chunk <= max_chunk")
        self.chunk = initial_chunk
        self.max_chunk = max_chunk
        self.grow_after = grow_after
        self._streak = 0
        self.ceiling = max_chunk
        self._last_ok = 0
        """The largest span not yet refused."""
        self.refusals = 0
        """How often the RPC refused a range (for tests and logs)."""

    def chunks(self, fetch: Callable[[int, int], T], start: int, end: int) -> Iterator[tuple[int, int, T]]:
        """Call `fetch(a, b)` over consecutive sub-ranges covering start..end; yields (a, b, result)."""
        a = start
        while a <= end:
            b = min(a + self.chunk - 1, end)
            try:
                got = fetch(a, b)
            except GpusettleError:
                raise
            except Exception as exc:
                if not is_range_error(exc):
                    raise
                self.refusals += 1
                self._streak = 0
                if b == a:
                    raise LogRangeError(a, str(exc)[:300]) from None
                # Never grow back to a span the RPC refused (its limits are mostly fixed per endpoint): the
                # ceiling drops to the larger of the last span it served and half the refused one.
                span = b - a + 1
                self.ceiling = max(1, min(self.ceiling, max(self._last_ok, span // 2)))
                self.chunk = min(self.ceiling, max(1, span // 2))
                log.debug("RPC refused blocks %d-%d (%s); chunk now %d", a, b, str(exc)[:120], self.chunk)
                continue
            yield a, b, got
            self._last_ok = b - a + 1
            a = b + 1
            self._streak += 1
            if self._streak >= self.grow_after and self.chunk < self.ceiling:
                self.chunk = min(self.ceiling, self.chunk * 2)
                self._streak = 0

    def events(self, event: Any, start: int, end: int, filters: Mapping[str, Any] | None = None) -> list[Any]:
        """web3-decoded logs of one contract event (`contract.events.Name`) in start..end, in chain order."""
        out: list[Any] = []
        if start > end:
            return out

        def fetch(a: int, b: int) -> list[Any]:
            return list(event.get_logs(argument_filters=dict(filters or {}), from_block=a, to_block=b))

        for _a, _b, got in self.chunks(fetch, start, end):
            out.extend(got)
        return out


_READERS: dict[int, LogReader] = {}


def reader_for(w3: Web3) -> LogReader:
    """The shared reader of one web3 connection, so what it learned about the RPC's limits is kept."""
    key = id(w3.provider)
    found = _READERS.get(key)
    if found is None:
        found = _READERS[key] = LogReader()
    return found


class CursorStore(Protocol):
    """Where a follower keeps the hashes of the blocks it read."""

    def cursor_blocks(self, below_or_at: int, limit: int) -> list[tuple[int, str]]:
        """Remembered (number, hash) at or below a block, newest first."""

    def cursor_last(self) -> tuple[int, str] | None:
        """The newest remembered block."""


@dataclass
class BlockCursor:
    """Finds where a follower's view of the chain and the chain part ways."""

    store: CursorStore
    block: Callable[[int], tuple[str, int] | None]

    def common_ancestor(self) -> int | None:
        """None when the newest remembered block is still on the chain; otherwise the newest remembered
        block that is (the caller rewinds to it). Raises ReorgTooDeepError when none is."""
        last = self.store.cursor_last()
        if last is None:
            return None
        number, stored = last
        got = self.block(number)
        if got is not None and got[0] == stored:
            return None
        below = number
        oldest = number
        while True:
            rows = self.store.cursor_blocks(below, 64)
            if not rows:
                raise ReorgTooDeepError(oldest)
            for n, h in rows:
                oldest = n
                current = self.block(n)
                if current is not None and current[0] == h:
                    return n
            below = rows[-1][0] - 1
