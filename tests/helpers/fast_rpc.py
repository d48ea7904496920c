"""Test-only removal of three per-call costs that brownie 1.22 and requests put on every snapshot, revert and
JSON-RPC request. None changes what a test sees; they only stop work whose result is thrown away.

- `Rpc.snapshot` and `Rpc.revert` are wrapped by brownie's `internal` decorator, which calls `inspect.stack()`
  to warn when user code calls them directly. `inspect.stack()` reads source lines for every frame; under pytest
  and hypothesis that is ~28 ms per call, twice per test (`fn_isolation`) and twice per state-machine example.
  The wrapper is dropped; the tests reach them only through `chain`, as the warning asks.
- requests asks the environment for proxy settings on every request (`trust_env`), scanning `os.environ` twice:
  ~10% of a state machine's time. Tests talk only to a local anvil, so brownie's web3 gets one session that
  does not look.
- brownie runs a full `gc.collect()` on every revert (see `frozen_heap`), ~0.2 s over a session's heap: the
  better part of a unit test's time. `young_heap` freezes what exists when each test starts.
- web3's validation middleware asks the node for its chain id before every call and transaction (two of every
  three requests in a unit test); `cache_chain_id` lets web3 keep the answer (the chain under test never
  changes its id; a reconnect makes a new provider with an empty cache).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from brownie.network import rpc
from brownie.network.web3 import web3


def _undecorated(wrapped):
    """The function that brownie's `internal` closed over (it does not use functools.wraps)."""
    inner = [c.cell_contents for c in (wrapped.__closure__ or ()) if callable(c.cell_contents)]
    assert len(inner) == 1, f"brownie's internal() wrapper changed shape: {wrapped.__closure__}"
    return inner[0]


def drop_stack_inspection() -> None:
    for name in ("snapshot", "revert"):
        wrapped = getattr(type(rpc), name)
        if getattr(wrapped, "__name__", "") == "wrapped":
            setattr(type(rpc), name, _undecorated(wrapped))


def plain_session() -> None:
    """Give the connected provider one requests session that skips the environment's proxy lookup."""
    manager = getattr(web3.provider, "_request_session_manager", None)
    if manager is None or getattr(manager, "_explicit_session", None) is not None:
        return
    session = requests.Session()
    session.trust_env = False
    manager._explicit_session = session


def cache_chain_id() -> None:
    """web3's own request cache, for eth_chainId only (block-dependent answers change across reverts). A test
    that forks the chain id (`anvil_setChainId`) empties it on the way."""
    provider = web3.provider
    if provider is None or not hasattr(provider, "cacheable_requests"):
        return
    provider.cacheable_requests = {"eth_chainId"}
    provider.cache_allowed_requests = True
    send = provider.make_request

    def make_request(method, params):
        if method == "anvil_setChainId":
            provider._request_cache.clear()
        return send(method, params)

    provider.make_request = make_request


def young_heap() -> None:
    """Move every object alive now out of the collector's sight, so the `gc.collect()` of the revert that ends
    this test scans only what the test allocated. What the frozen objects later leave as cyclic garbage waits
    for `thaw_heap` (each module's end); nothing is freed early or changed."""
    gc.freeze()


def thaw_heap() -> None:
    gc.unfreeze()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """brownie's `chain.revert()` runs `gc.collect()` to drop dead objects before notifying them; over a
    session's heap that costs ~0.14 s per revert. Objects that exist when the block starts are moved out of the
    collector's sight (nothing is freed or changed), so each collection scans only what the block allocates."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
