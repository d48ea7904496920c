"""Leases off-chain: the shared models, EIP-712 digests, heartbeat Merkle root and uptime rule.

No I/O here: the worker (signs heartbeats, answers probes), the oracle (checks heartbeats, builds
checkpoints) and the CLI import the same definitions, so the parts cannot drift apart. The interface
they follow is LeaseEscrow's (interfaces/ILeaseEscrow.sol) and docs/PROTOCOL.md's lease section.
"""
