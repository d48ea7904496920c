"""Talking to the oracle: upload a result payload, submit a receipt, read its status.

Every call classifies the answer so the caller knows whether to retry: network errors and 5xx (503
store unavailable, chain unreachable) are temporary; a 2xx is an acknowledgement (the receipt is
durably stored); 409 already_settled is final success; any other 4xx is a final rejection whose
reason the worker logs and keeps.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

__all__ = ["OracleClient", "StatusAnswer", "StatusKind", "SubmitKind", "SubmitResult", "backoff_delay"]


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with jitter: about base x 2^attempt, at most `cap`, never all at once."""
    return float(min(cap, base * 2.0 ** min(attempt, 16)) * random.uniform(0.5, 1.0))


class SubmitKind(StrEnum):
    """What an answer to a submission or an upload means for the worker."""

    ACK = "ack"
    """Durably stored by the oracle."""
    SETTLED = "settled"
    """The job is already settled: final success."""
    REJECTED = "rejected"
    """Refused for good, with a reason."""
    RETRY = "retry"
    """A network error or a temporary refusal: try again later."""


class StatusKind(StrEnum):
    """What the oracle said about a receipt."""

    FOUND = "found"
    UNKNOWN = "unknown"
    """HTTP 404: the oracle has no such receipt; submit it (again)."""
    UNREACHABLE = "unreachable"
    """No usable answer: ask later."""


@dataclass(frozen=True)
class SubmitResult:
    """What the oracle said."""

    kind: SubmitKind
    status_code: int | None
    detail: str
    body: dict[str, Any]


@dataclass(frozen=True)
class StatusAnswer:
    """What the oracle said about a receipt: `found` (with its status document), `unknown` (HTTP 404: the
    oracle has no such receipt, so it must be submitted again) or `unreachable` (no answer: ask later)."""

    kind: StatusKind
    body: dict[str, Any]
    detail: str = ""


class OracleClient:
    """HTTP client of one oracle."""

    def __init__(
        self, base_url: str, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    @staticmethod
    def _classify(response: httpx.Response) -> SubmitResult:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {"body": body}
        code = response.status_code
        reason = str(body.get("reason") or body.get("status") or response.reason_phrase)
        if 200 <= code < 300:
            return SubmitResult(SubmitKind.ACK, code, reason, body)
        if code == 409 and body.get("error") == "already_settled":
            return SubmitResult(SubmitKind.SETTLED, code, reason, body)
        if 400 <= code < 500 and code not in (408, 429):
            return SubmitResult(SubmitKind.REJECTED, code, f"{body.get('error', code)}: {reason}", body)
        return SubmitResult(SubmitKind.RETRY, code, f"HTTP {code}: {reason}", body)

    def upload_result(self, result_hash: str, payload: bytes, signature: Mapping[str, str]) -> SubmitResult:
        """PUT the payload under its keccak256, with the worker key's signature headers for its job
        (`gpusettle.signed_requests.result_upload_headers`): the oracle takes uploads only from the
        worker key of a running job."""
        try:
            response = self.http.put(
                f"{self.base_url}/v1/results/{result_hash}",
                content=payload,
                headers={**signature, "content-type": "application/octet-stream"},
            )
        except httpx.HTTPError as exc:
            return SubmitResult(SubmitKind.RETRY, None, f"oracle unreachable ({type(exc).__name__})", {})
        return self._classify(response)

    def submit(self, document: str) -> SubmitResult:
        """POST a receipt submission (JSON text)."""
        try:
            response = self.http.post(
                f"{self.base_url}/v1/receipts", content=document, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            return SubmitResult(SubmitKind.RETRY, None, f"oracle unreachable ({type(exc).__name__})", {})
        return self._classify(response)

    def status(self, job_id: int) -> StatusAnswer:
        """The oracle's status document for a job's receipt; a 404 (lost or never received) is told apart
        from a network error or a 5xx, which say nothing about the receipt."""
        try:
            response = self.http.get(f"{self.base_url}/v1/receipts/{job_id}")
        except httpx.HTTPError as exc:
            return StatusAnswer(StatusKind.UNREACHABLE, {}, f"oracle unreachable ({type(exc).__name__})")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 200:
            return StatusAnswer(StatusKind.FOUND, body)
        if response.status_code == 404 and body.get("error") == "unknown_receipt":
            return StatusAnswer(StatusKind.UNKNOWN, body, str(body.get("reason") or "no such receipt"))
        return StatusAnswer(
            StatusKind.UNREACHABLE, body, f"HTTP {response.status_code}: {body.get('reason', '')}"
        )
