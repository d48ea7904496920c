"""The explorer's JSON API under /api/: the same queries the pages use, and its OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..index import queries
from ..index.db import Database
from ..models import JobStatus

__all__ = ["BadQuery", "LeasesQuery", "api_routes", "openapi", "parse"]

M = TypeVar("M", bound=BaseModel)


class BadQuery(Exception):
    """A query parameter was missing, unknown or out of range."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def parse(model: type[M], params: Mapping[str, str], drop_empty: bool = False) -> M:
    """Validate query parameters into `model`; BadQuery names the first wrong one and why."""
    data = {k: v for k, v in params.items() if not (drop_empty and v == "")}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            raise BadQuery(f"unknown query parameter {field!r}; allowed: {allowed}", field) from None
        raise BadQuery(f"{field}: {first['msg']} (got {first.get('input')!r})", field) from None


_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_OFFSET = 10_000_000
"""The deepest page a list serves (past it SQLite's integers overflow, and nobody pages that far)."""


def _check_page_and_parties(limit: int, offset: int, provider: str | None, client: str | None) -> None:
    """The paging and party filters shared by the job and lease lists; BadQuery (a 400) otherwise."""
    if not 1 <= limit <= 500:
        raise BadQuery(f"limit: must be between 1 and 500 (got {limit})", "limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadQuery(f"offset: must be between 0 and {MAX_OFFSET} (got {offset})", "offset")
    for name, v in (("provider", provider), ("client", client)):
        if v is not None and not _ADDRESS.match(v):
            raise BadQuery(f"{name}: {v[:50]!r} is not a 0x address of 40 hex digits", name)


class JobsQuery(BaseModel):
    """Filters for the job list."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    status: str | None = None
    """Only jobs in this status."""
    provider: str | None = None
    """Only this provider's jobs (0x address)."""
    client: str | None = None
    """Only this client's jobs (0x address)."""
    limit: int = 50
    """Rows per page (1-500)."""
    offset: int = 0
    """Rows to skip."""

    def model_post_init(self, _context: Any) -> None:
        _check_page_and_parties(self.limit, self.offset, self.provider, self.client)
        if self.status is not None and self.status not in _STATUSES:
            raise BadQuery(f"status: {self.status!r} is not one of {', '.join(_STATUSES)}", "status")


_STATUSES = tuple(s.value for s in JobStatus if s is not JobStatus.NONE)
"""The statuses a job in the index can have (IJobEscrow.Status but None)."""


class ProvidersQuery(BaseModel):
    """Order and size of the provider list."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    sort: str = "record"
    """record, stake or earned."""
    limit: int = 100
    """Rows (1-1000)."""

    def model_post_init(self, _context: Any) -> None:
        if self.sort not in ("record", "stake", "earned"):
            raise BadQuery(f"sort: {self.sort!r} is not one of record, stake, earned", "sort")
        if not 1 <= self.limit <= 1000:
            raise BadQuery(f"limit: must be between 1 and 1000 (got {self.limit})", "limit")


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def error(status: int, reason: str, field: str | None = None) -> JSONResponse:
    """A JSON error body with the reason."""
    body: dict[str, Any] = {"error": reason}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def _handle(fn: Any) -> Any:
    def endpoint(request: Request) -> JSONResponse:
        try:
            return JSONResponse(fn(request))
        except BadQuery as exc:
            return error(400, exc.reason, exc.field)
        except LookupError as exc:
            return error(404, str(exc.args[0]))

    return endpoint


def _offers(request: Request) -> Any:
    q = parse(queries.OfferQuery, request.query_params)
    return queries.search_offers(_db(request), q).model_dump(mode="json")


def _providers(request: Request) -> Any:
    q = parse(ProvidersQuery, request.query_params)
    rows = queries.providers(_db(request), sort=q.sort, limit=q.limit)  # type: ignore[arg-type]
    return {"providers": [r.model_dump(mode="json") for r in rows]}


def _address(text: str) -> str:
    if not (len(text) == 42 and text.startswith("0x")):
        raise BadQuery(f"{text!r} is not a 0x address of 40 hex digits", "address")
    try:
        int(text, 0)
    except ValueError:
        raise BadQuery(f"{text!r} holds characters that are not hex digits", "address") from None
    return text


def _provider(request: Request) -> Any:
    address = _address(request.path_params["address"])
    found = queries.provider(_db(request), address)
    if found is None:
        raise LookupError(f"no provider {address} in the index")
    return found.model_dump(mode="json")


def _job_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"job id {text!r} is not a whole number", "job_id") from None
    if not 1 <= value < 2**63:
        raise BadQuery(f"job id {value} is out of range (1 or more)", "job_id")
    return value


def _jobs(request: Request) -> Any:
    q = parse(JobsQuery, request.query_params)
    total, rows = queries.jobs(
        _db(request), status=q.status, provider=q.provider, client=q.client, limit=q.limit, offset=q.offset
    )
    return {"total": total, "jobs": [r.model_dump(mode="json") for r in rows]}


def _job(request: Request) -> Any:
    job_id = _job_id(request.path_params["job_id"])
    found = queries.job(_db(request), job_id)
    if found is None:
        raise LookupError(f"no job {job_id} in the index")
    return found.model_dump(mode="json")


class LeasesQuery(BaseModel):
    """Filters for the lease list."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    status: str | None = None
    """Only leases in this status: Open, Running, Ended, Cancelled or Disputed."""
    provider: str | None = None
    """Only this provider's leases (0x address)."""
    client: str | None = None
    """Only this client's leases (0x address)."""
    offer: int | None = None
    """Only leases on this offer."""
    limit: int = 50
    """Rows per page (1-500)."""
    offset: int = 0
    """Rows to skip."""

    def model_post_init(self, _context: Any) -> None:
        _check_page_and_parties(self.limit, self.offset, self.provider, self.client)
        if self.offer is not None and not 1 <= self.offer < 2**63:
            raise BadQuery(f"offer: must be an offer id, 1 or more (got {self.offer})", "offer")
        if self.status is not None and self.status not in _LEASE_STATUSES:
            raise BadQuery(f"status: {self.status!r} is not one of {', '.join(_LEASE_STATUSES)}", "status")


_LEASE_STATUSES = ("Open", "Running", "Ended", "Cancelled", "Disputed")


def _leases(request: Request) -> Any:
    q = parse(LeasesQuery, request.query_params)
    total, rows = queries.leases(
        _db(request),
        status=q.status,
        provider=q.provider,
        client=q.client,
        offer=q.offer,
        limit=q.limit,
        offset=q.offset,
    )
    return {"total": total, "leases": [r.model_dump(mode="json") for r in rows]}


def _lease(request: Request) -> Any:
    text = request.path_params["lease_id"]
    try:
        lease_id = int(text)
    except ValueError:
        raise BadQuery(f"lease id {text!r} is not a whole number", "lease_id") from None
    if not 1 <= lease_id < 2**63:
        raise BadQuery(f"lease id {lease_id} is out of range (1 or more)", "lease_id")
    found = queries.lease(_db(request), lease_id)
    if found is None:
        raise LookupError(f"no lease {lease_id} in the index")
    return found.model_dump(mode="json")


def _stats(request: Request) -> Any:
    parse(_Empty, request.query_params)
    return queries.stats(_db(request)).model_dump(mode="json")


def _oracle(request: Request) -> Any:
    parse(_Empty, request.query_params)
    return queries.oracle(_db(request)).model_dump(mode="json")


class _Empty(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def _openapi(request: Request) -> Any:
    return openapi()


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def params(model: type[BaseModel]) -> list[dict[str, Any]]:
        out = []
        for name, f in model.model_fields.items():
            field_schema = model.model_json_schema()["properties"][name]
            out.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": field_schema,
                    "description": f.description or "",
                }
            )
        return out

    error_ref = {
        "description": "Bad query parameter",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
                }
            }
        },
    }

    def op(
        summary: str,
        model: type[BaseModel],
        query: type[BaseModel] | None = None,
        path: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "parameters": (params(query) if query else []) + (path or []),
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": ref(model)}}},
                    "400": error_ref,
                    "404": {"description": "Not in the index"},
                },
            }
        }

    class ProviderList(BaseModel):
        """A list of providers."""

        providers: list[queries.ProviderRow]

    class JobList(BaseModel):
        """A page of jobs."""

        total: int
        jobs: list[queries.JobRow]

    class LeaseList(BaseModel):
        """A page of leases."""

        total: int
        leases: list[queries.LeaseRow]

    addr = [{"name": "address", "in": "path", "required": True, "schema": {"type": "string"}}]
    lease_id = [
        {"name": "lease_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    ]
    job_id = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gpusettle explorer API",
            "version": "1",
            "description": "Read-only view of the chain index.",
        },
        "paths": {
            "/api/offers": op("Search offers", queries.OfferPage, queries.OfferQuery),
            "/api/providers": op("Providers by record, stake or earnings", ProviderList, ProvidersQuery),
            "/api/providers/{address}": op("One provider", queries.ProviderDetail, path=addr),
            "/api/jobs": op("Jobs, newest first", JobList, JobsQuery),
            "/api/jobs/{job_id}": op("One job and its timeline", queries.JobDetail, path=job_id),
            "/api/leases": op("Leases, newest first", LeaseList, LeasesQuery),
            "/api/leases/{lease_id}": op(
                "One lease, its checkpoints and its timeline", queries.LeaseDetail, path=lease_id
            ),
            "/api/stats": op("Network figures", queries.Stats),
            "/api/oracle": op("Oracle set and queue", queries.OracleView),
        },
        "components": {"schemas": schemas},
    }


def api_routes() -> list[Route]:
    """The /api/ routes."""
    return [
        Route("/api/offers", _handle(_offers)),
        Route("/api/providers", _handle(_providers)),
        Route("/api/providers/{address}", _handle(_provider)),
        Route("/api/jobs", _handle(_jobs)),
        Route("/api/jobs/{job_id}", _handle(_job)),
        Route("/api/leases", _handle(_leases)),
        Route("/api/leases/{lease_id}", _handle(_lease)),
        Route("/api/stats", _handle(_stats)),
        Route("/api/oracle", _handle(_oracle)),
        Route("/api/openapi.json", _handle(_openapi)),
    ]
