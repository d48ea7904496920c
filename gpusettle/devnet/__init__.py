"""A local development network for the demo, the benchmarks and the end-to-end tests.

- `Anvil` (anvil.py): a node on a free port, with JSON-RPC helpers (`call`, `increase_time`, ...);
- `DevNet` (network.py): the suite deployed with gpusettle.deploy, throwaway keys in an encrypted
  keystore, funding, staking, offers and jobs;
- `FastSender` (sender.py): many transactions from one account without waiting for each;
- `ManagedProcess` (processes.py): a child process with a log file that is always stopped;
- `free_port` / `wait_port` (ports.py).
"""

from __future__ import annotations

from .anvil import ANVIL_ENV, Anvil, anvil_binary
from .network import E18, DevNet, fast_kdf
from .ports import free_port, wait_port
from .processes import ManagedProcess, stop_group
from .sender import FastSender

__all__ = [
    "ANVIL_ENV",
    "E18",
    "Anvil",
    "DevNet",
    "FastSender",
    "ManagedProcess",
    "anvil_binary",
    "fast_kdf",
    "free_port",
    "stop_group",
    "wait_port",
]
