"""The heartbeats commitment of a checkpoint: a sorted-pair keccak256 Merkle tree.

Each parent is keccak256 of its two children in ascending byte order (OpenZeppelin's MerkleProof
convention), so a proof needs no left/right flags. Leaves are heartbeat struct hashes in sequence
order; an odd node at the end of a level moves up unchanged; one leaf is its own root; no leaf gives
the zero root.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..hashing import keccak256

__all__ = ["ZERO_ROOT", "merkle_proof", "merkle_root", "verify_proof"]

ZERO_ROOT = bytes(32)


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b) if a <= b else keccak256(b + a)


def _check(leaves: Sequence[bytes]) -> list[bytes]:
    level = [bytes(leaf) for leaf in leaves]
    for leaf in level:
        if len(leaf) != 32:
            raise ValueError(f"a Merkle leaf is 32 bytes, got {len(leaf)}")
    return level


def _up(level: list[bytes]) -> list[bytes]:
    nxt = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over `leaves` in the order given (zero for none)."""
    level = _check(leaves)
    if not level:
        return ZERO_ROOT
    while len(level) > 1:
        level = _up(level)
    return level[0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root (what a dispute shows for one heartbeat)."""
    level = _check(leaves)
    if not 0 <= index < len(level):
        raise IndexError(f"leaf {index} is not among {len(level)} leaves")
    proof: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        level = _up(level)
        index //= 2
    return proof


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """Whether `leaf` is under `root` with `proof` (OpenZeppelin MerkleProof.verify)."""
    node = bytes(leaf)
    for sibling in proof:
        node = _pair(node, bytes(sibling))
    return node == root
