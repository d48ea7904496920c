"""The explorer's Starlette app: pages, /api/ and /static/, over a read-only index."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..index.db import Database, is_postgres_url
from ..index.schema import check
from .api import api_routes, error
from .lease_pages import lease_page_routes
from .pages import _error_page, page_routes

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(index: str | Path) -> Starlette:
    """The app over the index at `index` (an SQLite path or a postgresql:// URL), opened read-only."""
    db = Database(index, read_only=not is_postgres_url(str(index)))
    check(db)

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return error(404, f"no such API path {request.url.path}; see /api/openapi.json")
        return _error_page(404, f"no page at {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "the explorer is read-only: only GET is allowed"}, status_code=405)

    app = Starlette(
        routes=[
            *api_routes(),
            *page_routes(),
            *lease_page_routes(),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )
    app.state.db = db
    return app
