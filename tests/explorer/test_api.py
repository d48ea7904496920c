"""The explorer's JSON API: answers from the index, 4xx with a reason for bad input, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Site
from .market_leases import RUNNING_OFFER


def get(site: Site, path: str) -> httpx.Response:
    return httpx.get(site.url + path, timeout=10)


def test_offer_search_filters_and_sorts(site: Site) -> None:
    body = get(site, "/api/offers?gpu=H100&sort=price").json()
    assert body["total"] == 1  # two H100 offers, one of a jailed provider
    body = get(site, "/api/offers?include_inactive=true&gpu=h100").json()
    assert body["total"] == 2
    body = get(site, "/api/offers?min_vram=80&min_gpus=8&limit=2").json()
    assert body["total"] == 2 and len(body["offers"]) == 2
    assert all(o["vram_gb"] >= 80 and o["gpu_count"] >= 8 for o in body["offers"])
    page2 = get(site, "/api/offers?limit=2&offset=2").json()
    page1 = get(site, "/api/offers?limit=2").json()
    assert {o["offer_id"] for o in page1["offers"]}.isdisjoint(o["offer_id"] for o in page2["offers"])


@pytest.mark.parametrize(
    ("path", "field", "words"),
    [
        ("/api/offers?min_vram=lots", "min_vram", "valid integer"),
        ("/api/offers?limit=0", "limit", "greater than or equal to 1"),
        ("/api/offers?sort=cheapest", "sort", "price"),
        ("/api/offers?colour=red", "colour", "unknown query parameter"),
        ("/api/jobs?status=Finished", "status", "not one of"),
        ("/api/jobs?provider=0x12", "provider", "not a 0x address"),
        ("/api/jobs/abc", "job_id", "not a whole number"),
        ("/api/providers/0xnothex", "address", "not a 0x address"),
        ("/api/stats?x=1", "x", "unknown query parameter"),
        # The attack review of issue 12: integers past SQLite's range answered 500; a 42-character non-address
        # reached the page's filter chip unescaped.
        ("/api/jobs?offset=9223372036854775808", "offset", "between 0 and"),
        ("/api/leases?offset=99999999999999999999", "offset", "between 0 and"),
        ("/api/offers?min_completed=99999999999999999999", "min_completed", "less than or equal"),
        ("/api/leases?provider=0x<svg" + "A" * 35 + "<!--", "provider", "not a 0x address"),
    ],
)
def test_bad_query_parameters_get_400_with_the_reason(site: Site, path: str, field: str, words: str) -> None:
    response = get(site, path)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["field"] == field and words in body["error"]


def test_unknown_things_are_404_and_writes_are_refused(site: Site) -> None:
    assert get(site, "/api/jobs/99999").status_code == 404
    assert "no job 99999" in get(site, "/api/jobs/99999").json()["error"]
    assert get(site, "/api/nothing").status_code == 404
    assert httpx.post(site.url + "/api/offers", json={}).status_code == 405


def test_job_detail_has_its_timeline(site: Site) -> None:
    job_id = site.world.jobs["disputed"][0]
    body = get(site, f"/api/jobs/{job_id}").json()
    assert body["job"]["status"] == "DisputeUpheld"
    assert (
        [e["name"] for e in body["timeline"]]
        == [
            "JobCreated",
            "JobAccepted",
            "JobSettled",
            "JobDisputed",
            "DisputeFrozen",
            "CollateralReleased",
            "JobGpusReleased",
            "DisputeResolved",
        ]
    )  # fmt: skip (the dispute says what it froze and its ruling deadline; the ruling releases the settled job's dispute reserve and its GPUs before it says how it ruled)


def test_openapi_describes_every_route(site: Site) -> None:
    doc = get(site, "/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {
        "/api/offers",
        "/api/providers",
        "/api/providers/{address}",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/stats",
        "/api/oracle",
    }
    params = {p["name"]: p for p in doc["paths"]["/api/offers"]["get"]["parameters"]}
    assert "Least memory per GPU" in params["min_vram"]["description"]
    assert "OfferPage" in doc["components"]["schemas"]


def test_market_cli_reads_a_remote_explorer(site: Site) -> None:
    from click.testing import CliRunner

    from gpusettle.cli.main import cli

    result = CliRunner().invoke(cli, ["market", "offers", "--index", site.url, "--gpu", "A100", "--json"])
    assert result.exit_code == 0, result.output
    assert {o["gpu_family"] for o in __import__("json").loads(result.stdout)["offers"]} == {"A100"}
    bad = CliRunner().invoke(cli, ["market", "offers", "--index", site.url + "/nothing-here", "--json"])
    assert bad.exit_code == 1


def test_the_explorer_command_serves_the_index(site: Site, tmp_path: object) -> None:
    import subprocess
    import sys
    import time

    from gpusettle.devnet import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpusettle.cli",
            "explorer",
            "--index",
            str(site.db_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                assert time.monotonic() < deadline, "the explorer did not start"
                time.sleep(0.1)
        assert response.json()["jobs"] == site.world.net.gs.job_count()
    finally:
        proc.terminate()
        proc.wait(10)
    missing = subprocess.run(
        [sys.executable, "-m", "gpusettle.cli", "explorer", "--index", "/nonexistent/index.db"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert missing.returncode == 1 and "error: no index at /nonexistent/index.db" in missing.stderr


def test_pages_escape_what_the_visitor_typed(site: Site) -> None:
    for path in (
        "/?max_price=%3Cscript%3Ealert(1)%3C/script%3E",
        "/?min_vram=%3Cscript%3E",
        "/jobs/%3Cscript%3E",
        "/leases/%3Cscript%3E",
        "/offers/%3Cscript%3E",
        "/leases?client=%3Cscript%3E",
    ):
        response = get(site, path)
        assert response.status_code == 400, path
        assert "&lt;script&gt;" in response.text and "<script>" not in response.text, path


def test_an_index_of_another_schema_is_refused_with_a_hint(tmp_path: object) -> None:
    from pathlib import Path

    from click.testing import CliRunner

    from gpusettle.cli.main import cli
    from gpusettle.errors import ConfigError
    from gpusettle.explorer import create_app
    from gpusettle.index.db import Database

    path = Path(str(tmp_path)) / "old.db"
    db = Database(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '0')")
    db.close()
    with pytest.raises(ConfigError, match="schema version 0") as err:
        create_app(path)
    assert err.value.hint is not None and "index run" in err.value.hint
    result = CliRunner().invoke(cli, ["market", "offers", "--index", str(path)])
    assert result.exit_code == 1 and "schema version 0" in result.output


def test_the_explorer_on_a_taken_port_says_so_before_serving(site: Site) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "gpusettle.cli",
                "explorer",
                "--index",
                str(site.db_path),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "--port" in done.stderr.split("hint:")[1]
    assert "explorer on http" not in done.stdout + done.stderr  # nothing claims to serve


def _market_offers_against(handler: Any) -> tuple[str, Any]:
    """`gpusettle market offers --index URL` against a local HTTP server running `handler`: (URL, the result)."""
    import http.server
    import threading

    from click.testing import CliRunner

    from gpusettle.cli.main import cli

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        return url, CliRunner().invoke(cli, ["market", "offers", "--index", url])
    finally:
        server.shutdown()
        server.server_close()


def test_market_cli_says_a_url_is_no_explorer(tmp_path: Path) -> None:
    import http.server
    from functools import partial

    url, result = _market_offers_against(partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)))
    assert result.exit_code == 1
    assert f"error: {url} does not serve the explorer API" in result.stderr, result.stderr
    assert "fix the filter" not in result.stderr


def test_market_cli_refuses_an_endless_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that streams JSON without end (or beyond the cap) is cut off with a clear error, never read into
    memory whole."""
    import http.server

    from gpusettle.index import source

    monkeypatch.setattr(source, "MAX_ANSWER_BYTES", 64 << 10)

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                self.wfile.write(b'{"offers": [')
                for _ in range(10_000):
                    self.wfile.write(b'"' + b"x" * 1000 + b'",')
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    _url, result = _market_offers_against(Endless)
    assert result.exit_code == 1
    assert "sent no usable answer" in result.stderr and f"larger than {64 << 10} bytes" in result.stderr
    assert "Traceback" not in result.output


def test_stats_prices_are_strings_of_base_units(site: Site) -> None:
    families = get(site, "/api/stats").json()["price_by_family"]
    assert families
    for family in families:
        for key in ("min_price", "mean_price", "max_price"):
            assert isinstance(family[key], str) and family[key].isdigit(), family


@pytest.mark.parametrize(
    ("path", "field", "words"),
    [
        ("/api/leases?status=Finished", "status", "not one of"),
        ("/api/leases?client=0x12", "client", "not a 0x address"),
        ("/api/leases?limit=0", "limit", "between 1 and 500"),
        ("/api/leases?colour=red", "colour", "unknown query parameter"),
        ("/api/leases/abc", "lease_id", "not a whole number"),
        ("/api/leases/0", "lease_id", "out of range"),
        ("/api/leases?offer=0", "offer", "offer id, 1 or more"),
        ("/api/leases?offer=x", "offer", "valid integer"),
    ],
)
def test_lease_api_refuses_bad_parameters(site: Site, path: str, field: str, words: str) -> None:
    response = get(site, path)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and words in response.json()["error"]


def test_lease_api_lists_and_404s(site: Site) -> None:
    leases = site.leases
    running = get(site, "/api/leases?status=Running").json()
    assert running["total"] == 1 and [x["lease_id"] for x in running["leases"]] == [leases.running]
    offer = site.world.offers[RUNNING_OFFER]
    on_offer = get(site, f"/api/leases?offer={offer}").json()
    assert [x["lease_id"] for x in on_offer["leases"]] == [leases.open, leases.running]  # newest first
    ended = get(site, f"/api/leases/{leases.ended}").json()
    assert ended["lease"]["status"] == "Ended" and len(ended["checkpoints"]) == 2
    assert [e["name"] for e in ended["timeline"]][-3:] == [
        "CheckpointSettled",
        "LeaseEnded",
        "LeaseRefundClaimed",
    ]
    missing = get(site, "/api/leases/99")
    assert missing.status_code == 404 and "no lease 99" in missing.json()["error"]
    doc = get(site, "/api/openapi.json").json()
    assert {"/api/leases", "/api/leases/{lease_id}"} <= set(doc["paths"])
    assert "LeaseDetail" in doc["components"]["schemas"]


def test_the_market_page_reads_a_price_with_or_without_its_unit(site: Site) -> None:
    """The form's field is labelled per GPU-hour; `/h` and `/s` read as in the CLI."""
    import re

    rows = []
    for limit in ("1000000", "1000000/h", "277.777777777777777777/s"):
        response = get(site, "/?max_price=" + limit.replace("/", "%2F"))
        assert response.status_code == 200, (limit, response.text[:300])
        rows.append(re.findall(r'<td class="num price">([^<]*)</td>', response.text))
    assert rows[0] and rows[0] == rows[1] == rows[2]
    assert not re.findall(r'<td class="num price">', get(site, "/?max_price=0%2Fs").text)
    bad = get(site, "/?max_price=3%2Fd")
    assert bad.status_code == 400 and "neither s (per GPU-second) nor h (per GPU-hour)" in bad.text


def test_offers_lists_the_market_as_the_home_page_does(site: Site) -> None:
    """A visitor who trims /offers/7 to /offers gets the offer list, filters included, not a 404."""
    import re

    home, offers = get(site, "/?min_gpus=2"), get(site, "/offers?min_gpus=2")
    assert home.status_code == offers.status_code == 200
    cells = re.findall(r'<td class="num price">([^<]*)</td>', offers.text)
    assert cells and cells == re.findall(r'<td class="num price">([^<]*)</td>', home.text)


def test_the_gpu_filter_matches_its_text_not_sql_wildcards(site: Site) -> None:
    every = get(site, "/api/offers?limit=500").json()["total"]
    assert every > 0
    for wildcard in ("%", "_"):
        response = get(site, f"/api/offers?gpu={wildcard}&limit=500")
        assert response.status_code == 200 and response.json()["total"] == 0, response.text


def test_provider_strings_reach_the_page_without_bidi_overrides(site: Site, tmp_path: Path) -> None:
    """A provider's GPU model and machine URI with a right-to-left override (which reorders what follows it on the
    page, say the price column) and control characters: the pages show the text without them."""
    import shutil
    import sqlite3

    from gpusettle.demo_explore import ExplorerServer

    offer = get(site, "/api/offers?limit=1").json()["offers"][0]["offer_id"]  # an active offer, on the market page
    copy = tmp_path / "index.db"
    shutil.copy(site.db_path, copy)
    with sqlite3.connect(copy) as con:
        con.execute(
            "UPDATE offers SET gpu_model = ?, metadata_uri = ? WHERE offer_id = ?",
            ("H100\u202eevil\x1b[2J", "ipfs://m\u2066\u202eachine\x07", offer),
        )
    server = ExplorerServer(copy).start()
    try:
        base = server.url.rstrip("/")
        pages = [httpx.get(f"{base}{path}", timeout=15) for path in ("/?gpu=evil", f"/offers/{offer}")]
    finally:
        server.stop()
    for page in pages:
        assert page.status_code == 200, page.text
        assert "H100evil" in page.text, page.url
        for bad in ("\u202e", "\u2066", "\x1b", "\x07"):
            assert bad not in page.text, (page.url, repr(bad))
    assert "ipfs://machine" in pages[1].text


def test_provider_strings_reach_the_terminal_without_control_characters() -> None:
    from gpusettle.cli.context import shown

    hostile = "NVIDIA H100\x1b]0;PWNED\x07\x1b[2J\x1b[8m\u202eevil\x00"
    assert shown(hostile) == "NVIDIA H100]0;PWNED[2J[8mevil"
    assert shown("NVIDIA H100 80GB HBM3") == "NVIDIA H100 80GB HBM3"
