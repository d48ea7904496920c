"""Attack review of 2026-12-03 (failing at 91a1cf1, passing from the commit that adds this file) (POST /v1/heartbeats/batch): when pydantic refuses a batch, `_parse_batch` parses the body again
with Python's `json.loads` to answer each heartbeat on its own. That second parser is not the first one:

- it recurses per nesting level and raises RecursionError (not the ValueError caught) on a deeply nested body far
  under the 64 KiB limit, which escapes the intake as an unhandled exception: HTTP 500, a traceback per request,
  no metric, instead of the 400 that POST /v1/heartbeats answers for the same bytes;
- it takes what pydantic's parser calls invalid JSON (a lone surrogate escape such as "\\ud800"), so a body the
  oracle calls malformed JSON when it comes alone stores the heartbeats beside the bad token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gpusettle.oracle.leaseview import StaticLeaseView
from gpusettle.oracle.store import SQLiteStore
from tests.oracle.helpers import CHAIN_ID, INTERVAL, LEASE_ESCROW, heartbeat_doc, lease_app, lease_terms

BATCH = "/v1/heartbeats/batch"
JSON = {"content-type": "application/json"}


@pytest.fixture
def http(store: SQLiteStore, tmp_path: Path) -> Iterator[TestClient]:
    leases = StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: lease_terms(1)})
    app = lease_app(store, tmp_path / "results", leases)
    with TestClient(app.asgi(), raise_server_exceptions=False) as client:
        yield client
    app.close()


@pytest.mark.parametrize("where", ["top", "item"])
def test_a_deeply_nested_batch_is_a_4xx_not_a_500(http: TestClient, where: str) -> None:
    depth = 20_000  # 40 kB: well under the 64 KiB body limit
    nested = "[" * depth + "]" * depth
    body = (
        '{"heartbeats":' + nested + "}"
        if where == "top"
        else '{"heartbeats":[' + json.dumps(heartbeat_doc(1)) + "," + nested + "]}"
    ).encode()
    assert len(body) < 64 * 1024
    # The same bytes alone are a clean 4xx:
    alone = http.post("/v1/heartbeats", content=body, headers=JSON)
    assert 400 <= alone.status_code < 500, alone.text
    response = http.post(BATCH, content=body, headers=JSON)
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:200]}"


def test_a_batch_that_is_not_json_stores_nothing(http: TestClient, store: SQLiteStore) -> None:
    ts = (int(time.time()) // INTERVAL) * INTERVAL
    good = json.dumps(heartbeat_doc(1, ts=ts))
    body = ('{"heartbeats":[' + good + ',"\\ud800"]}').encode()
    # POST /v1/heartbeats calls a lone surrogate malformed JSON; so does pydantic for the whole batch.
    alone = http.post("/v1/heartbeats", content=b'{"x":"\\ud800"}', headers=JSON)
    assert alone.json()["error"] == "malformed_json", alone.text
    response = http.post(BATCH, content=body, headers=JSON)
    assert response.status_code == 400 and response.json()["error"] == "malformed_json", response.text
    assert store.heartbeats(1, 0, 2**62) == []
