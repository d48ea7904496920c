"""Where the CLI reads the market from: a local index database or a remote explorer's JSON API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, GpusettleError
from ..outbound import OutboundError, request_bounded
from ..text import strip_controls
from . import queries
from .db import Database, is_postgres_url
from .schema import check

__all__ = ["INDEX_ENV", "LocalIndex", "MarketSource", "RemoteIndex", "default_index_path", "open_source"]

INDEX_ENV = "GPUSETTLE_INDEX"
"""A default --index (a database path, a postgresql:// URL or an explorer's http(s) URL)."""


def default_index_path(chain_id: int) -> Path:
    """`$GPUSETTLE_HOME/index/chain-<id>.db` (`~/.gpusettle/...` without GPUSETTLE_HOME)."""
    home = os.environ.get("GPUSETTLE_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".gpusettle"
    return base / "index" / f"chain-{chain_id}.db"


class MarketSource(Protocol):
    """What `market` and `job create --match` read."""

    def search_offers(self, q: queries.OfferQuery) -> queries.OfferPage: ...

    def providers(self, sort: str, limit: int) -> list[queries.ProviderRow]: ...

    def stats(self) -> queries.Stats: ...


class LocalIndex:
    """An index database on this machine."""

    def __init__(self, target: str | Path) -> None:
        self.db = Database(target, read_only=not is_postgres_url(str(target)))
        check(self.db)

    def search_offers(self, q: queries.OfferQuery) -> queries.OfferPage:
        return queries.search_offers(self.db, q)

    def providers(self, sort: str, limit: int) -> list[queries.ProviderRow]:
        return queries.providers(self.db, sort=sort, limit=limit)  # type: ignore[arg-type]

    def stats(self) -> queries.Stats:
        return queries.stats(self.db)


M = TypeVar("M", bound=BaseModel)

MAX_ANSWER_BYTES = 16 << 20
"""The largest answer taken from a remote explorer (a page of 500 offers is under 1 MiB)."""


class RemoteIndex:
    """An explorer's JSON API (`gpusettle explorer` elsewhere)."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = httpx.Client(timeout=timeout)

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        clean = {k: v for k, v in params.items() if v is not None and v is not False}
        try:
            # Bounded: the explorer is someone else's server, and a page of offers is far below this.
            status, raw = request_bounded(
                self.http, "GET", f"{self.url}{path}", params=clean,
                max_bytes=MAX_ANSWER_BYTES, deadline_s=4 * self.timeout,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise GpusettleError(
                f"cannot reach the explorer at {self.url}: {type(exc).__name__}",
                "check the URL, or use a local index (--index PATH)",
            ) from None
        except OutboundError as exc:
            raise GpusettleError(
                f"the explorer at {self.url} sent no usable answer to {path}: {exc}",
                "check the URL (a `gpusettle explorer`), or use a local index (--index PATH)",
            ) from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if status == 400 and isinstance(body, dict) and "error" in body:
            raise GpusettleError(
                f"the explorer refused {path}: {body['error']}", "fix the filter and try again"
            )
        if status >= 400 or body is None:
            # Some other web server (the oracle, a proxy's page): not a filter the user can fix.
            raise GpusettleError(
                f"{self.url} does not serve the explorer API (HTTP {status} at {path})",
                "pass the URL of a `gpusettle explorer` (default http://127.0.0.1:8790) "
                "or a local index (--index PATH)",
            )
        return body

    def _read(self, path: str, params: dict[str, Any], model: type[M], what: str) -> M:
        """The answer at `path` as `model`. Every string in it has its control characters removed first (an
        explorer is someone else's server: its text reaches the terminal, next to a transaction's terms), and an
        answer of another shape is the explorer's fault, said so, not a bug of this program."""
        body = _without_controls(self._get(path, params))
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "the answer"
            raise GpusettleError(
                f"the explorer at {self.url} answered {path} with {what} it cannot be: {where}: {first.get('msg')}",
                "check the URL (a `gpusettle explorer` of this version), or use a local index (--index PATH)",
            ) from None

    def search_offers(self, q: queries.OfferQuery) -> queries.OfferPage:
        return self._read("/api/offers", q.model_dump(), queries.OfferPage, "an offer page")

    def providers(self, sort: str, limit: int) -> list[queries.ProviderRow]:
        page = self._read("/api/providers", {"sort": sort, "limit": limit}, _ProviderPage, "a provider list")
        return page.providers

    def stats(self) -> queries.Stats:
        got = self._read("/api/stats", {}, queries.Stats, "network figures")
        if not 0 <= got.token_decimals <= MAX_TOKEN_DECIMALS:
            raise GpusettleError(
                f"the explorer at {self.url} says the token has {got.token_decimals} decimals",
                f"a token has 0 to {MAX_TOKEN_DECIMALS}; check the URL, or use a local index (--index PATH)",
            )
        return got


MAX_TOKEN_DECIMALS = 36
"""The most decimals an explorer's answer may claim for the token (ERC-20 tokens use 0 to 18; 10**36 still
computes at once)."""


class _ProviderPage(BaseModel):
    providers: list[queries.ProviderRow]


def _without_controls(value: Any) -> Any:
    """`value` (parsed JSON) with every string's control characters and bidirectional overrides removed, keys too."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, list):
        return [_without_controls(v) for v in value]
    if isinstance(value, dict):
        return {_without_controls(k): _without_controls(v) for k, v in value.items()}
    return value


def open_source(target: str | None, chain_id: int | None) -> MarketSource:
    """--index (or $GPUSETTLE_INDEX): an http(s) URL, a postgresql:// URL or a path; else the default path."""
    target = target or os.environ.get(INDEX_ENV)
    if target and target.startswith(("http://", "https://")):
        return RemoteIndex(target)
    if target:
        return LocalIndex(target)
    if chain_id is None:
        raise ConfigError("no index given", "pass --index PATH_OR_URL, or run `gpusettle index run` first")
    path = default_index_path(chain_id)
    if not path.exists():
        raise ConfigError(
            f"no index at {path}",
            "build it with `gpusettle index run` (leave it running to stay current), or pass --index URL",
        )
    return LocalIndex(path)
