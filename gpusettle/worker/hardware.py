"""`POST /v1/hardware`: the worker's answer to an oracle's hardware challenge (gpusettle.hardware.models).

The commit step computes the seeded products on the worker's GPUs (CUDA through the matmul workload's path when
the worker has real GPUs, NumPy on the CPU otherwise), keeps them in memory and answers with the Merkle root over
their rows; the open step returns the rows the oracle samples with their proofs and C r. A challenge costs GPU
time, so only the oracle set may ask (the peer-request signature headers, as lease probes). At most
`keep` challenges are held at once, each for at most `ttl` seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ..hardware.models import CommitRequest, OpenRequest
from ..hardware.rows import Products, compute_products
from .probe import HARDWARE_PATH, ProbeError

__all__ = ["HARDWARE_PATH", "HardwareResponder"]

log = logging.getLogger("gpusettle.worker.hardware")

Compute = Callable[[int, int, int, list[str]], Products]


def _cuda_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except RuntimeError:
        return 0


class HardwareResponder:
    """Answers hardware challenges; thread-safe (the probe server's threads call `handle`)."""

    def __init__(
        self,
        real_gpus: bool,
        *,
        auth: Callable[[Mapping[str, str], bytes], None] | None = None,
        compute: Compute = compute_products,
        keep: int = 2,
        ttl: float = 600.0,
    ) -> None:
        self.real_gpus = real_gpus
        self.auth = auth
        self.compute = compute
        self.keep = keep
        self.ttl = ttl
        self._held: OrderedDict[str, tuple[float, Products]] = OrderedDict()
        self._lock = threading.Lock()
        # One challenge computes at a time: two would share (and slow) the same GPUs.
        self._busy = threading.Lock()

    def _devices(self, gpus: int) -> list[str]:
        if not self.real_gpus:
            return ["cpu"] * gpus
        have = _cuda_count()
        if have < gpus:
            raise ProbeError(
                409,
                f"the challenge asks for {gpus} GPUs but this worker sees {have} CUDA devices",
                "run the worker on the machine the offer describes, or lower the offer's GPU count",
            )
        return [f"cuda:{g}" for g in range(gpus)]

    def handle(self, headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
        """The answer document, or ProbeError with the HTTP status and reason."""
        if self.auth is not None:
            self.auth(headers, raw)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise ProbeError(400, "the body is not JSON", 'send {"step": "commit", ...}') from None
        step = body.get("step") if isinstance(body, dict) else None
        try:
            if step == "commit":
                return self._commit(CommitRequest.model_validate(body))
            if step == "open":
                return self._open(OpenRequest.model_validate(body))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise ProbeError(
                400,
                f"bad {step} request: {first.get('loc')}: {first.get('msg')}",
                "see gpusettle.hardware.models",
            ) from None
        raise ProbeError(400, f"unknown step {step!r}", 'send "step": "commit" first, then "open"')

    def _commit(self, req: CommitRequest) -> dict[str, Any]:
        devices = self._devices(req.gpus)
        with self._busy:
            try:
                products = self.compute(req.seed, req.n, req.gpus, devices)
            except Exception as exc:  # noqa: BLE001 - a broken device or driver is the challenge's answer
                raise ProbeError(
                    503, f"the challenge failed: {type(exc).__name__}: {exc}", "retry later"
                ) from None
        with self._lock:
            now = time.monotonic()
            for key in [k for k, (at, _) in self._held.items() if now - at > self.ttl]:
                del self._held[key]
            self._held[req.challengeId] = (now, products)
            while len(self._held) > self.keep:
                self._held.popitem(last=False)
        log.info(
            "hardware challenge %s of offer %d: %d x n=%d on %s in %d ms",
            req.challengeId[:10],
            req.offerId,
            req.gpus,
            req.n,
            products.device,
            products.compute_ms,
        )
        return {
            "challengeId": req.challengeId,
            "root": "0x" + products.root.hex(),
            "computeMs": min(products.compute_ms, 2**32 - 1),
            "device": products.device[:200],
        }

    def _open(self, req: OpenRequest) -> dict[str, Any]:
        with self._lock:
            held = self._held.pop(req.challengeId, None)
        if held is None:
            raise ProbeError(404, f"no committed challenge {req.challengeId}", "send the commit step first")
        try:
            opened = held[1].open(list(req.rows), req.vectorSeed)
        except IndexError as exc:
            raise ProbeError(400, str(exc), "ask for rows below gpus x n") from None
        return {"challengeId": req.challengeId, **opened}
