"""gpusettle: on-chain settlement for a decentralized GPU cloud (worker, oracle and wallet tooling)."""

__version__ = "0.1.0"
