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


def test_blocks_replaced_while_their_logs_are_read_are_read_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A reorg between eth_getLogs and the read of the chunk's last block: the logs came from the old branch (no
    events in its last block), the end hash from the new one (events there). The logs' own hashes cannot show it;
    the index kept the old branch's view for good and missed the new events."""
    from gpusettle.index.db import Database
    from gpusettle.index.follower import Follower

    class Racing(SyntheticChain):
        reorged = False

        def block(self, number: int) -> tuple[str, int] | None:
            got = super().block(number)
            if got is not None and number == self.head() and not self.reorged:
                return "0x" + "ee" * 32, got[1]  # the old branch's last block
            return got

        def logs(self, addresses, topics, start, end):  # type: ignore[no-untyped-def]
            out = super().logs(addresses, topics, start, end)
            if not self.reorged:
                self.reorged = True  # the reorg lands while these (old branch) logs are on their way
                return [x for x in out if int(x["blockNumber"], 16) != self.head()]
            return out

    chain = Racing(market_events(10, 30, seed=3), per_block=5)
    db = Database(tmp_path / "race.db")
    f = Follower(db, chain, ADDRESSES, 1, confirmations=0)
    for _ in range(3):
        f.step()
    assert f.last_block == chain.head()
    assert int(db.scalar("SELECT COUNT(*) FROM events")) == chain.count
