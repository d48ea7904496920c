"""`gpusettle explorer`: serve the read-only web explorer over an index."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..index.db import is_postgres_url
from ..index.source import INDEX_ENV, default_index_path
from ..listen import bind_listener
from .context import get_ctx, shared_options

__all__ = ["explorer"]


@click.command("explorer")
@click.option(
    "--index",
    "index_target",
    help=f"Index database path or postgresql:// URL (default ${INDEX_ENV}, else the network's).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8790, show_default=True)
@shared_options
def explorer(index_target: str | None, host: str, port: int) -> None:
    """Serve the market, provider, job, oracle and network pages and the JSON API (/api/openapi.json)."""
    import os

    import uvicorn

    from ..explorer import create_app

    c = get_ctx()
    target = index_target or os.environ.get(INDEX_ENV) or str(default_index_path(c.network.chain_id))
    if not is_postgres_url(target) and not Path(target).exists():
        raise ConfigError(
            f"no index at {target}", "build it first with `gpusettle index run`, or pass --index"
        )
    app = create_app(target)
    sock = bind_listener(host, port, "explorer")
    c.info(f"explorer on http://{host}:{port}/ over {target} (read-only)")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    server.run(sockets=[sock])
