"""`Follower`: keeps the index in step with the chain, safely across reorganisations and crashes.

Each step: check the newest remembered block is still on the chain (else rewind to the newest one that
is), then read the logs of the followed contracts from there up to head - confirmations in adaptive
chunks, and apply each chunk in one database transaction together with the new cursor, so a kill -9
between two chunks loses nothing and repeats nothing. Only archive-free calls are made: eth_blockNumber,
eth_getBlockByNumber and eth_getLogs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..chain.logs import BlockCursor, LogReader, ReorgTooDeepError
from ..errors import ConfigError
from .apply import apply_event
from .db import Database
from .events import Decoder, decoder, followed
from .journal import State, rewind
from .schema import create

__all__ = ["Follower", "LogSource", "StepResult"]

log = logging.getLogger(__name__)


class LogSource(Protocol):
    """What the follower needs from a node (chain.logs.RpcLogSource over JSON-RPC; a fake in tests)."""

    def head(self) -> int: ...

    def block(self, number: int) -> tuple[str, int] | None: ...

    def gas_used(self, tx_hash: str) -> int | None: ...

    def logs(
        self, addresses: Sequence[str], topics: Sequence[Any] | None, start: int, end: int
    ) -> list[dict[str, Any]]: ...


@dataclass
class StepResult:
    """What one step did."""

    events: int = 0
    """Events applied."""
    blocks: int = 0
    """Blocks read."""
    rewound_to: int | None = None
    """The block a reorganisation made the index rewind to, if any."""
    last_block: int = 0
    """The newest block indexed after the step."""
    head: int = 0
    """The chain's head when the step began."""


def _in_chain_order(events: Sequence[Any]) -> list[Any]:
    """The events by (block, log index), each once: an RPC may answer logs out of order or one twice, and
    applying them as given would drop an event before its cause or fail on the events table's key."""
    seen: set[tuple[int, int]] = set()
    out = []
    for ev in sorted(events, key=lambda e: (e.block_number, e.log_index)):
        key = (ev.block_number, ev.log_index)
        if key not in seen:
            seen.add(key)
            out.append(ev)
    return out


@dataclass
class Follower:
    """Follows `addresses` (deployment key -> address) from `start_block` into `db`."""

    db: Database
    source: LogSource
    addresses: Mapping[str, str]
    start_block: int
    confirmations: int = 2
    reorg_window: int = 128
    """Blocks below the head whose changes are journaled (the deepest reorg the index can undo)."""
    reader: LogReader = field(default_factory=LogReader)
    decode: Decoder = field(default_factory=decoder)
    chain_id: int | None = None

    def __post_init__(self) -> None:
        create(self.db)
        self._contract_of = {a.lower(): key for key, a in followed(self.addresses).items()}
        self._addresses = list(self._contract_of)
        self._topics = [self.decode.topics()]
        self._check_identity()
        self.cursor = BlockCursor(self, self.source.block)
        self._times: dict[int, int] = {}
        self._journal_from = 0
        self._end_before: dict[int, str] = {}
        """A near-head chunk's last block hash before its logs were read."""

    def _check_identity(self) -> None:
        """An index belongs to one deployment: refuse to mix two."""
        keyed = followed(self.addresses)
        ident = ",".join(f"{k}={keyed[k].lower()}" for k in sorted(keyed))
        if self.chain_id is not None:
            ident = f"chain={self.chain_id},{ident}"
        got = self.db.scalar("SELECT value FROM meta WHERE key = 'deployment'")
        if got is None:
            with self.db.transaction():
                self.db.execute("INSERT INTO meta (key, value) VALUES ('deployment', ?)", (ident,))
                for key in ("last_block", "journal_floor"):
                    self.db.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?)", (key, str(self.start_block - 1))
                    )
        elif got != ident:
            raise ConfigError(
                f"this index was built for another deployment ({got})",
                "give the index of this deployment another --db path",
            )

    # -- CursorStore ---------------------------------------------------------------------------------

    def cursor_last(self) -> tuple[int, str] | None:
        rows = self.db.query("SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def cursor_blocks(self, below_or_at: int, limit: int) -> list[tuple[int, str]]:
        rows = self.db.query(
            "SELECT number, hash FROM blocks WHERE number <= ? ORDER BY number DESC LIMIT ?",
            (below_or_at, limit),
        )
        return [(int(n), str(h)) for n, h in rows]

    # -- following -----------------------------------------------------------------------------------

    @property
    def last_block(self) -> int:
        """The newest block the index holds."""
        return int(self.db.scalar("SELECT value FROM meta WHERE key = 'last_block'"))

    def _journal_floor(self) -> int:
        return int(self.db.scalar("SELECT value FROM meta WHERE key = 'journal_floor'"))

    def step(self, max_blocks: int | None = None) -> StepResult:
        """Catch up as far as head - confirmations (or `max_blocks`); returns what was done."""
        head = self.source.head()
        result = StepResult(head=head)
        ancestor = self.cursor.common_ancestor()
        if ancestor is not None:
            if ancestor < self._journal_floor():
                raise ReorgTooDeepError(self._journal_floor())
            undone = rewind(self.db, ancestor)
            # The replacing blocks have times of their own: none cached for a rewound number may be reused.
            self._times = {n: t for n, t in self._times.items() if n <= ancestor}
            log.warning("chain reorganised: rewound to block %d (%d row changes undone)", ancestor, undone)
            result.rewound_to = ancestor
        last = self.last_block
        target = head - self.confirmations
        if max_blocks is not None:
            target = min(target, last + max_blocks)
        journal_from = head - self.reorg_window
        self._journal_from = journal_from
        for a, b, logs in self.reader.chunks(self._fetch, last + 1, target):
            events = _in_chain_order(self.decode.decode(logs, self._contract_of))
            end = self.source.block(b)
            if end is None:
                break  # the head moved back under us: the next step sees the reorg
            # Near the head, the chunk's last block must be the one it was before its logs were read: a reorg
            # during the read could replace blocks that had no logs then and have some now, which the logs'
            # own block hashes (_consistent) cannot show.
            if b > journal_from and self._end_before.pop(b, end[0]) != end[0]:
                log.info("blocks %d-%d were replaced while being read; reading them again", a, b)
                break
            if not self._consistent(events, journal_from):
                log.info("blocks %d-%d changed while being read; reading them again", a, b)
                break
            self._apply(events, b, end[0], journal_from)
            result.events += len(events)
            result.blocks += b - a + 1
        result.last_block = self.last_block
        self._prune(journal_from)
        return result

    def _fetch(self, a: int, b: int) -> list[dict[str, Any]]:
        if b > self._journal_from:
            before = self.source.block(b)
            self._end_before[b] = before[0] if before else ""
        return self.source.logs(self._addresses, self._topics, a, b)

    def _consistent(self, events: Sequence[Any], journal_from: int) -> bool:
        """Near the head, the logs' block hashes must be the chain's now (a reorg may race the read)."""
        for number, block_hash in {(e.block_number, e.block_hash) for e in events}:
            if number > journal_from:
                got = self.source.block(number)
                if got is None or got[0] != block_hash:
                    return False
        return True

    def _block_time(self, number: int) -> int:
        found = self._times.get(number)
        if found is None:
            got = self.source.block(number)
            found = got[1] if got else 0
            if len(self._times) > 4096:
                self._times.clear()
            self._times[number] = found
        return found

    def _apply(
        self,
        events: Sequence[Any],
        end: int,
        end_hash: str,
        journal_from: int,
    ) -> None:
        state = State(self.db, journal_from, self.source.gas_used)
        with self.db.transaction():
            state.prefetch_for(events)
            for ev in events:
                apply_event(state, ev, ev.time if ev.time is not None else self._block_time(ev.block_number))
            state.flush()
            marks = {(e.block_number, e.block_hash) for e in events if e.block_number > journal_from}
            marks.add((end, end_hash))
            self.db.executemany(
                "INSERT INTO blocks (number, hash) VALUES (?, ?) ON CONFLICT (number) DO UPDATE SET hash = excluded.hash",
                sorted(marks),
            )
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'last_block'", (str(end),))
            # The journal can undo blocks above the newest block applied without journaling.
            floor = max(self._journal_floor(), min(end, journal_from))
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'journal_floor'", (str(floor),))

    def _prune(self, journal_from: int) -> None:
        """Forget journal entries and block hashes no reorg within the window can need."""
        keep = journal_from - 1
        newest = self.cursor_last()
        with self.db.transaction():
            self.db.execute("DELETE FROM undo WHERE block_number < ?", (keep,))
            if newest is not None:
                self.db.execute("DELETE FROM blocks WHERE number < ? AND number < ?", (keep, newest[0]))
            if self._journal_floor() < keep:
                self.db.execute("UPDATE meta SET value = ? WHERE key = 'journal_floor'", (str(keep),))

    def catch_up(self) -> int:
        """Step until the index reaches head - confirmations; returns the events applied."""
        events = 0
        while True:
            result = self.step()
            events += result.events
            if result.last_block >= result.head - self.confirmations:
                return events

    def record_token(self, decimals: int, symbol: str) -> None:
        """Keep the token's decimals and symbol in the index (the explorer shows amounts in tokens)."""
        with self.db.transaction():
            for key, value in (("token_decimals", decimals), ("token_symbol", symbol)):
                self.db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, str(value)),
                )

    def run(self, stop: threading.Event, poll_interval: float = 2.0, on_step: Any = None) -> None:
        """Step until `stop` is set, sleeping `poll_interval` when caught up."""
        while not stop.is_set():
            result = self.step()
            if on_step is not None:
                on_step(result)
            if result.last_block >= result.head - self.confirmations:
                stop.wait(poll_interval)
