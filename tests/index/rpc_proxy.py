"""A JSON-RPC proxy in front of anvil that behaves like a hosted RPC: it refuses eth_getLogs over more
than `max_range` blocks (with a provider's wording) and can slow every eth_getLogs down."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx


class HostedRpcProxy:
    """Start with `with HostedRpcProxy(upstream, max_range=...) as proxy:`; `proxy.url` is its address."""

    def __init__(self, upstream: str, *, max_range: int = 10, delay: float = 0.0) -> None:
        self.upstream = upstream
        self.max_range = max_range
        self.delay = delay
        self.refused = 0
        self.served = 0
        self.widest = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = outer.handle(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, body: Any) -> Any:
        if isinstance(body, list):
            return [self.handle(b) for b in body]
        if body.get("method") == "eth_getLogs":
            query = body["params"][0]
            start = int(query.get("fromBlock", "0x0"), 16)
            end = (
                int(query.get("toBlock", "0x0"), 16)
                if query.get("toBlock") not in (None, "latest")
                else 1 << 40
            )
            if end - start + 1 > self.max_range:
                self.refused += 1
                return {
                    "jsonrpc": "2.0",
                    "id": body.get("id"),
                    "error": {
                        "code": -32600,
                        "message": f"eth_getLogs is limited to a {self.max_range} block range",
                    },
                }
            self.widest = max(self.widest, end - start + 1)
            self.served += 1
            if self.delay:
                time.sleep(self.delay)
        return httpx.post(self.upstream, json=body, timeout=30).json()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
