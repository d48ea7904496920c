"""The development node keeps the block states anvil moves to disk in a directory of its own and removes it when
it stops: anvil itself deletes nothing, not even on SIGTERM, and its default place (~/.foundry/anvil/tmp) filled a
250 GB disk over a day of test runs."""

from __future__ import annotations

import os

from gpusettle.devnet.anvil import Anvil


def _files(path: str) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


def test_old_states_go_to_the_nodes_own_directory_and_leave_with_it() -> None:
    node = Anvil().start()
    cache = node._cache_dir
    try:
        assert cache is not None and "--cache-path" in node.argv()
        node.call("anvil_mine", "0x1000")  # enough blocks for anvil to move old states out of memory
        assert _files(cache) > 0, "anvil wrote no state to the node's cache directory"
        assert int(node.call("eth_blockNumber"), 16) >= 0x1000
    finally:
        node.stop()
    assert not os.path.exists(cache)
    assert node._cache_dir is None
