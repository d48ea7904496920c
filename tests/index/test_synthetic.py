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


def test_an_offer_whose_strings_are_not_utf8_or_hold_nul_is_indexed_not_fatal() -> None:
    """A Solidity string is any bytes: an offer with gpuModel ff fe c0 80 made eth_abi refuse the event and halted
    every index for good (and a NUL halted a PostgreSQL one). The text is kept with the bad bytes replaced."""
    from eth_abi.abi import encode as abi_encode

    from gpusettle.hashing import keccak256

    topic = "0x" + keccak256(b"OfferAdded(uint256,address,string,uint8,uint32,uint64,string)").hex()
    data = abi_encode(
        ["bytes", "uint8", "uint32", "uint64", "bytes"],
        [b"\xff\xfe\xc0\x80H100", 1, 80, 10, b"ipfs://a\x00b"],
    )
    log = {
        "address": ADDRESSES["staking"],
        "topics": [topic, "0x" + "00" * 31 + "07", "0x" + "00" * 12 + "ab" * 20],
        "data": "0x" + data.hex(),
        "blockNumber": "0x5",
        "blockHash": "0x" + "11" * 32,
        "logIndex": "0x0",
        "transactionHash": "0x" + "22" * 32,
    }
    [ev] = decoder().decode([log], {a: k for k, a in ADDRESSES.items()})
    assert ev.name == "OfferAdded" and ev.args["offerId"] == 7
    assert ev.args["gpuModel"] == "\ufffd\ufffd\ufffd\ufffdH100" and ev.args["metadataURI"] == "ipfs://ab"
