"""`POST /v1/probe {leaseId, seed, n}`: the oracle's spot check that a lease's GPUs answer.

The worker computes one product C = A x B of the seeded n x n matrices (the matmul workload's inputs,
so the oracle regenerates A and B from the seed) on the lease's first GPU (NumPy on the CPU when there
is no CUDA device), checks it itself with Freivalds, and answers with C (base64 .npy) and its keccak256
(`checksum`). The oracle checks C with Freivalds too; a wrong or missing answer is down time.
Bad requests get HTTP 4xx with `{"error", "hint"}`.

A probe costs GPU time, so only the oracle set may ask: each request carries the oracles' peer-request
signature headers (gpusettle.signed_requests, the JobEscrow domain, at most PEER_MAX_SKEW seconds old)
and its signer must be an oracle of the on-chain set (`peer_auth`).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..eip712 import Domain
from ..errors import GpusettleError
from ..models import MatmulWorkload
from ..signed_requests import PeerRequestAuth
from ..workloads import run_matmul

__all__ = ["MAX_PROBE_N", "PROBE_PATH", "ProbeError", "ProbeServer", "answer_probe", "peer_auth"]

PROBE_PATH = "/v1/probe"

Auth = Callable[[Mapping[str, str], bytes], None]
"""Checks a probe request's headers and body; raises ProbeError (401/403) when it may not be answered."""

HardwareHandler = Callable[[Mapping[str, str], bytes], dict[str, Any]]
"""Answers POST /v1/hardware (gpusettle.worker.hardware.HardwareResponder.handle); raises ProbeError."""

HARDWARE_PATH = "/v1/hardware"

log = logging.getLogger("gpusettle.worker.probe")

MAX_PROBE_N = 1024
"""The largest probe matrix (a probe is a spot check, not work the worker is paid for)."""


class ProbeError(Exception):
    """A probe that cannot be answered: HTTP status, error code and hint."""

    def __init__(self, status: int, error: str, hint: str) -> None:
        super().__init__(error)
        self.status, self.error, self.hint = status, error, hint


def peer_auth(
    domain: Domain, oracles: Callable[[], set[str]], every: float = 60.0, path: str = PROBE_PATH
) -> Auth:
    """Requests to `path` signed by a member of the oracle set (`oracles()`, read again at most every
    `every` seconds)."""
    lock = threading.Lock()
    cache: dict[str, Any] = {"at": -1e18, "set": set()}

    def members() -> set[str]:
        with lock:
            if time.monotonic() - cache["at"] > every:
                cache["set"] = {a.lower() for a in oracles()}
                cache["at"] = time.monotonic()
            found: set[str] = cache["set"]
            return found

    def check(headers: Mapping[str, str], body: bytes) -> None:
        try:
            signer = PeerRequestAuth.check(
                domain, {k.lower(): v for k, v in headers.items()}, "POST", path, body, time.time()
            ).signer
        except GpusettleError as exc:
            raise ProbeError(401, exc.message, exc.hint or "sign the probe with an oracle key") from None
        try:
            allowed = members()
        except GpusettleError as exc:
            raise ProbeError(503, f"cannot read the oracle set: {exc.message}", "retry later") from None
        if signer.lower() not in allowed:
            raise ProbeError(
                403, f"{signer} is not an oracle of this escrow", "only the oracle set probes leases"
            )

    return check


def answer_probe(
    body: Any, slots_of: Callable[[int], list[int] | None], real_gpus: bool, device: str = "auto"
) -> dict[str, Any]:
    """The answer to one probe request (ProbeError for a bad one). `slots_of(leaseId)` is the lease's
    GPU slots, None when no such lease runs here."""
    if not isinstance(body, dict):
        raise ProbeError(400, "the body must be a JSON object", 'send {"leaseId": N, "seed": S, "n": N}')
    values: dict[str, int] = {}
    for name, low, high in (("leaseId", 0, 2**256 - 1), ("seed", 0, 2**64 - 1), ("n", 1, MAX_PROBE_N)):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ProbeError(
                400,
                f"{name} must be an integer from {low} to {high}, got {value!r}",
                'send {"leaseId": N, "seed": S, "n": N} with n at most ' + str(MAX_PROBE_N),
            )
        values[name] = value
    slots = slots_of(values["leaseId"])
    if not slots:
        raise ProbeError(
            404,
            f"lease {values['leaseId']} is not running on this worker",
            "probe a lease this worker accepted and still serves",
        )
    where = device
    if device == "auto":
        where = f"cuda:{slots[0]}" if real_gpus else "cpu"
    spec = MatmulWorkload(kind="matmul", seed=values["seed"], n=values["n"], repetitions=1)
    try:
        result = run_matmul(spec, device=where)
    except Exception as exc:  # noqa: BLE001 - a broken device or driver is the probe's answer
        raise ProbeError(
            503, f"the probe failed on {where}: {type(exc).__name__}: {exc}", "retry later"
        ) from None
    if result.payload is None:
        raise ProbeError(503, f"the probe failed on {result.device}: {result.failure_reason}", "retry later")
    log.debug("probe of lease %d answered on %s", values["leaseId"], result.device)
    # Exactly the fields of the oracle's ProbeAnswer (gpusettle.leases.models), which forbids others.
    return {
        "leaseId": values["leaseId"],
        "seed": values["seed"],
        "n": values["n"],
        "checksum": result.result_hash,
        "result": base64.b64encode(result.payload).decode(),
    }


class ProbeServer:
    """A small HTTP server answering probes from a daemon thread."""

    def __init__(
        self,
        slots_of: Callable[[int], list[int] | None],
        real_gpus: bool,
        host: str = "127.0.0.1",
        port: int = 0,
        device: str = "auto",
        auth: Auth | None = None,
        hardware: HardwareHandler | None = None,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("probe: " + format, *args)

            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.path.rstrip("/") == HARDWARE_PATH and outer.hardware is not None:
                    self._hardware()
                    return
                if self.path.rstrip("/") != PROBE_PATH:
                    self._reply(404, {"error": f"no such endpoint {self.path}", "hint": "POST /v1/probe"})
                    return
                try:
                    length = int(self.headers.get("content-length") or 0)
                    if length > 4096:
                        raise ProbeError(413, "the request is too large", "a probe body is a few bytes")
                    try:
                        raw = self.rfile.read(length)
                        body = json.loads(raw or b"null")
                    except ValueError:
                        raise ProbeError(
                            400, "the body is not JSON", 'send {"leaseId", "seed", "n"}'
                        ) from None
                    if outer.auth is not None:
                        outer.auth(dict(self.headers.items()), raw)
                    doc = answer_probe(body, outer.slots_of, outer.real_gpus, outer.device)
                except ProbeError as exc:
                    self._reply(exc.status, {"error": exc.error, "hint": exc.hint})
                    return
                self._reply(200, doc)

            def _hardware(self) -> None:
                assert outer.hardware is not None
                try:
                    length = int(self.headers.get("content-length") or 0)
                    if length > 16384:
                        raise ProbeError(
                            413, "the request is too large", "a challenge body is a few hundred bytes"
                        )
                    doc = outer.hardware(dict(self.headers.items()), self.rfile.read(length))
                except ProbeError as exc:
                    self._reply(exc.status, {"error": exc.error, "hint": exc.hint})
                    return
                self._reply(200, doc)

        self.hardware = hardware
        self.slots_of = slots_of
        self.real_gpus = real_gpus
        self.device = device
        self.auth = auth
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="probe-server", daemon=True)

    def start(self) -> ProbeServer:
        """Serve from a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
