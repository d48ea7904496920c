"""Requests the oracle sends to addresses a provider chose (its worker's probe and hardware ports).

httpx's timeout bounds each read, not the request: a worker that answers a byte a second never times out,
and `post()` reads a body of any size into memory. Here the answer is streamed with a cap on its size and on
the whole exchange's time, redirects are not followed and the environment's proxy settings are not used (the
address the oracle checked is the one it connects to).
"""

from __future__ import annotations

import time

import httpx

__all__ = ["OutboundError", "outbound_client", "post_bounded"]


class OutboundError(Exception):
    """The worker's answer was too large or too slow (the message says which)."""


def outbound_client(timeout: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client for workers' addresses: no redirects, no proxies from the environment."""
    return httpx.Client(timeout=timeout, transport=transport, follow_redirects=False, trust_env=False)


def post_bounded(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    max_bytes: int,
    deadline_s: float,
) -> tuple[int, bytes]:
    """(status, body) of a POST whose answer is at most `max_bytes` and complete within `deadline_s` (give or
    take one read's timeout); OutboundError otherwise, httpx errors as they come."""
    started = time.monotonic()
    with client.stream("POST", url, content=content, headers=headers) as response:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise OutboundError(f"the answer is larger than {max_bytes} bytes")
            if time.monotonic() - started > deadline_s:
                raise OutboundError(f"the answer took more than {deadline_s:g} s")
            chunks.append(chunk)
        return response.status_code, b"".join(chunks)
