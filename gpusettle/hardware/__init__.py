"""Hardware checks: the oracle's seeded challenge that a provider's GPUs are what its offer says, the worker's
answer (a Merkle root over the product's rows, then the rows the oracle samples), the oracle's verdict and the
EIP-712 record the HardwareRegistry keeps per offer."""
