"""What every workload returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..hashing import keccak256
from ..models import Outcome

__all__ = ["ProgressCallback", "WorkloadResult", "failure_hash"]

ProgressCallback = Callable[[float, str], None]
"""Called with the fraction done (0 to 1) and a short message while a workload runs."""


def failure_hash(reason: str) -> str:
    """The result hash of a failed job: keccak256 of the UTF-8 failure reason, as 0x-hex."""
    return "0x" + keccak256(reason.encode("utf-8")).hex()


@dataclass
class WorkloadResult:
    """The outcome of one run. `result_hash` is what the receipt signs."""

    outcome: Outcome
    result_hash: str
    failure_reason: str | None = None
    payload: bytes | None = None
    """The result payload the oracle checks (the matmul product as .npy bytes), if any."""
    device: str = "cpu"
    """Where it ran: "cpu" or "cuda:<index> (<name>)"."""
    details: dict[str, object] = field(default_factory=dict)
    sealed: bool = False
    """The payload is a sealed result: `result_hash` commits to its ciphertext even when the job
    failed (the client's logs are inside), instead of to the failure reason."""

    @classmethod
    def failed(cls, outcome: Outcome, reason: str, device: str = "cpu") -> WorkloadResult:
        """A failure result whose hash commits to the reason."""
        return cls(outcome=outcome, result_hash=failure_hash(reason), failure_reason=reason, device=device)
