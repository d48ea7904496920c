"""Where job specs come from. A client publishes the spec (canonical JSON) under its specHash; the
worker fetches it by the hash it reads on-chain and checks that the spec hashes to it.

- an HTTP spec store: `PUT/GET <url>/v1/specs/<specHash>` (the oracle serves one, so by default
  clients publish to the oracle and workers read from it);
- a directory: `<dir>/<specHash>.json` (a shared filesystem, or tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import httpx
from pydantic import ValidationError

from ..atomicfile import write_atomic
from ..models import JobSpec

__all__ = ["DirectorySpecStore", "HttpSpecStore", "SpecStore", "SpecUnavailable", "open_spec_store"]


class SpecUnavailable(Exception):
    """The spec cannot be had right now (not published yet, or the store is unreachable)."""


class SpecStore(Protocol):
    """Fetch and publish job specs by specHash."""

    def fetch(self, spec_hash: str) -> JobSpec:
        """The spec whose canonical JSON hashes to `spec_hash`; SpecUnavailable, or ValueError when
        what the store holds is not that spec."""
        ...

    def publish(self, spec: JobSpec) -> str:
        """Store `spec`; returns its specHash."""
        ...


def _checked(body: bytes | str, spec_hash: str) -> JobSpec:
    try:
        spec = JobSpec.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(
            f"the spec store's {spec_hash} is not a valid job spec: {exc.errors()[0]['msg']}"
        ) from None
    if spec.spec_hash() != spec_hash.lower():
        raise ValueError(f"the spec store returned a spec hashing to {spec.spec_hash()}, not {spec_hash}")
    return spec


class DirectorySpecStore:
    """Specs as `<dir>/<specHash>.json`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    def fetch(self, spec_hash: str) -> JobSpec:
        path = self.directory / f"{spec_hash.lower()}.json"
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise SpecUnavailable(f"no spec {spec_hash} in {self.directory}") from None
        return _checked(body, spec_hash)

    def publish(self, spec: JobSpec) -> str:
        name = spec.spec_hash()
        write_atomic(self.directory / f"{name}.json", spec.canonical_json(), mode=0o644)
        return name


class HttpSpecStore:
    """Specs behind `<base>/v1/specs/<specHash>` (the oracle's API)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def fetch(self, spec_hash: str) -> JobSpec:
        try:
            response = httpx.get(f"{self.base_url}/v1/specs/{spec_hash.lower()}", timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise SpecUnavailable(f"cannot reach the spec store {self.base_url}: {exc}") from None
        if response.status_code == 404:
            raise SpecUnavailable(f"spec {spec_hash} is not published at {self.base_url}")
        if response.status_code != 200:
            raise SpecUnavailable(f"the spec store answered HTTP {response.status_code}")
        return _checked(response.content, spec_hash)

    def publish(self, spec: JobSpec) -> str:
        name = spec.spec_hash()
        response = httpx.put(
            f"{self.base_url}/v1/specs/{name}",
            content=spec.canonical_json(),
            headers={"content-type": "application/json"},
            timeout=self.timeout,
        )
        if response.status_code not in (200, 201):
            raise SpecUnavailable(
                f"the spec store refused the spec: HTTP {response.status_code} {response.text}"
            )
        return name


def open_spec_store(location: str) -> SpecStore:
    """An HttpSpecStore for http(s) URLs, else a DirectorySpecStore."""
    if location.startswith(("http://", "https://")):
        return HttpSpecStore(location)
    return DirectorySpecStore(location)
