"""The explorer in a real browser (headless Chromium): every page opens, offers filter, a job is
followed from the table to its page, and the market works on a phone-sized screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Site


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # A 400 is what the bad-filter step asks for; anything else (a missing asset, a script error) fails.
    p.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "status of 400" not in msg.text else None
        ),
    )
    yield p
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def test_every_page_opens(site: Site, page: Any, artifacts: Path) -> None:
    provider = site.world.providers[4].address
    job_id = site.world.jobs["settled"][0]
    for name, path, heading in (
        ("market", "/", "Find GPUs"),
        ("jobs", "/jobs", "Jobs"),
        ("job", f"/jobs/{job_id}", f"Job #{job_id}"),
        ("provider", f"/providers/{provider}", "Provider"),
        ("providers", "/providers", "Providers"),
        ("oracle", "/oracle", "Oracle"),
        ("network", "/network", "Network"),
    ):
        response = page.goto(site.url + path)
        assert response is not None and response.status == 200, path
        assert heading in page.locator("main").inner_text(), path
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    page.goto(site.url + "/network")
    assert page.locator("svg.chart").count() >= 2
    page.goto(site.url + f"/providers/{provider}")
    assert page.locator("#offers tbody tr").count() == 1
    # The providers list: one row per provider, reached from the nav, each linking to its page.
    page.goto(site.url + "/")
    page.locator("header nav a", has_text="Providers").click()
    page.wait_for_url(site.url + "/providers")
    assert page.locator("#providers tbody tr").count() == len(site.world.providers)
    page.locator(f'#providers a[href="/providers/{provider}"]').click()
    page.wait_for_url(site.url + f"/providers/{provider}")


def test_filter_offers_and_follow_a_job(site: Site, page: Any, artifacts: Path) -> None:
    page.goto(site.url + "/")
    all_rows = page.locator("#offers tbody tr").count()
    assert all_rows == 6  # seven offers, one of a jailed provider
    page.select_option("select[name=gpu]", "A100")
    page.fill("input[name=min_vram]", "80")
    page.click("button[type=submit]")
    page.wait_for_url("**/?gpu=A100*")
    rows = page.locator("#offers tbody tr")
    assert rows.count() == 1
    assert "A100-SXM4-80GB" in rows.first.inner_text()
    page.screenshot(path=str(artifacts / "market-filtered.png"), full_page=True)
    page.fill("input[name=max_price]", "0.01")
    page.click("button[type=submit]")
    assert page.locator("#no-offers").is_visible()
    page.fill("input[name=max_price]", "a lot")
    page.click("button[type=submit]")
    assert "max_price" in page.locator(".reason").inner_text()
    # From the jobs table to a job's page and its timeline.
    page.goto(site.url + "/jobs?status=Settled")
    first = page.locator("#jobs tbody tr a").first
    label = first.inner_text()
    first.click()
    page.wait_for_url("**/jobs/*")
    assert page.locator("#job-title").inner_text() == f"Job {label}"
    steps = page.locator("#timeline li")
    assert steps.count() >= 3
    assert "JobSettled" in steps.nth(steps.count() - 1).inner_text()


def test_phone_sized_viewport(site: Site, browser: Any, artifacts: Path) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2
    )
    page = context.new_page()
    try:
        page.goto(site.url + "/")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        assert page.locator("button[type=submit]").is_visible()
        page.screenshot(path=str(artifacts / "market-phone.png"), full_page=True)
        page.goto(site.url + f"/jobs/{site.world.jobs['settled'][0]}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
