"""The bench's synthetic chain encodes logs exactly as the contracts do: the index decodes them back to
the values they were made from (so the catch-up figure measures real decoding work)."""

from __future__ import annotations

from gpusettle.bench.synthetic_chain import ADDRESSES, SyntheticChain, market_events
from gpusettle.index.events import decoder


def test_synthetic_logs_decode_to_their_values() -> None:
    made = list(market_events(20, 60, seed=5))
    chain = SyntheticChain(iter(made), per_block=7)
    logs = chain.logs(list(ADDRESSES.values()), None, 1, chain.head())
    decoded = decoder().decode(logs, {a: k for k, a in ADDRESSES.items()})
    assert len(decoded) == len(made) == chain.count
    for (name, args), ev in zip(made, decoded, strict=True):
        assert ev.name == name
        expected = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in args.items()}
        assert ev.args == expected
        assert ev.time is not None and chain.block(ev.block_number) == (ev.block_hash, ev.time)


def test_the_head_lag_bench_runs_on_the_market_world(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`make bench`'s head-lag figure: it opened its jobs on the offer of the provider the world's upheld dispute
    jailed, so the bench failed before printing anything."""
    from gpusettle.bench.index_catchup import _head_lag

    lag = _head_lag(tmp_path)
    assert lag["blocks"] >= 40 and 0 <= lag["lag_p50_ms"] <= lag["lag_max_ms"]
