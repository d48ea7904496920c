"""The explorer in a real browser (headless Chromium): every page opens, offers filter, a job and a lease
are followed from their tables to their pages, and the pages work on a phone-sized screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Site
from .market_leases import DOWN, ENDED_OFFER, PERIOD, RUNNING_OFFER


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
    # A settled job's timeline ends with its settlement (a FailedProvider receipt's job then shows its
    # CollateralReleased and FailedProviderSlashed after it).
    texts = [steps.nth(i).inner_text() for i in range(steps.count())]
    settled = [i for i, t in enumerate(texts) if "JobSettled" in t]
    assert settled, texts
    assert all(t.split()[0] in ("CollateralReleased", "FailedProviderSlashed") for t in texts[settled[-1] + 1 :]), texts


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
        offer = site.world.offers[RUNNING_OFFER]
        for name, path in (
            ("leases-phone", "/leases"),
            ("lease-phone", f"/leases/{site.leases.running}"),
            ("offer-phone", f"/offers/{offer}"),
        ):
            page.goto(site.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
            page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
            if name == "lease-phone":
                assert page.locator("#timeline li").first.is_visible()
    finally:
        context.close()


def _events(page: Any) -> list[str]:
    return [str(x) for x in page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.event)")]


def test_follow_a_lease_from_the_list_to_its_page(site: Site, page: Any, artifacts: Path) -> None:
    leases, gs = site.leases, site.world.net.gs
    page.goto(site.url + "/")
    page.locator("header nav a", has_text="Leases").click()
    page.wait_for_url(site.url + "/leases")
    assert page.locator("#leases tbody tr").count() == 3
    page.screenshot(path=str(artifacts / "leases.png"), full_page=True)
    # Filter by status, then open the one running lease.
    page.locator("#lease-status a", has_text="Running").click()
    page.wait_for_url("**/leases?status=Running")
    rows = page.locator("#leases tbody tr")
    assert rows.count() == 1
    rows.first.locator(f'a[href="/leases/{leases.running}"]').click()
    page.wait_for_url(f"**/leases/{leases.running}")
    assert page.locator("#lease-title").inner_text() == f"Lease #{leases.running}"
    # Its life so far: opened, accepted, two paid periods, and where the runway ends if nobody acts.
    assert _events(page) == [
        "LeaseOpened",
        "LeaseAccepted",
        "CheckpointSettled",
        "CheckpointSettled",
        "RunwayEnd",
    ]
    checkpoints = page.locator("#checkpoints tbody tr")
    assert checkpoints.count() == 2
    down_share = (PERIOD - DOWN) / PERIOD * 100
    assert f"{down_share:.1f}%" in checkpoints.nth(1).inner_text()
    # The amounts, from the chain's own numbers: 2 GPUs at the offer's price, one hour deposited.
    price = gs.offer(site.world.offers[RUNNING_OFFER]).price_per_gpu_second
    amounts = page.locator("#lease-amounts").inner_text()
    assert f"{2 * price * 3600 / 1e18:,.4f}" in amounts  # deposit and collateral (one hour of the rate)
    assert f"{2 * price * (2 * PERIOD - DOWN) / 1e18:,.4f}" in amounts  # paid for the up seconds
    assert "runway left" in amounts.lower() and " min " in amounts
    page.screenshot(path=str(artifacts / "lease-running.png"), full_page=True)

    # The ended lease, reached from its provider's page: closed, the final checkpoint, the refund.
    provider = gs.offer(site.world.offers[ENDED_OFFER]).provider
    page.goto(site.url + f"/providers/{provider}")
    page.locator(f'#provider-leases a[href="/leases/{leases.ended}"]').click()
    page.wait_for_url(f"**/leases/{leases.ended}")
    assert _events(page) == [
        "LeaseOpened",
        "LeaseAccepted",
        "CheckpointSettled",
        "LeaseClosed",
        "CheckpointSettled",
        "LeaseEnded",
        "LeaseRefundClaimed",
    ]
    assert "Ended" in page.locator("#lease-facts").inner_text()
    page.screenshot(path=str(artifacts / "lease-ended.png"), full_page=True)

    # The offer page, reached from the market's table, lists the leases on the offer.
    offer = site.world.offers[RUNNING_OFFER]
    page.goto(site.url + "/")
    page.locator(f'#offers a[href="/offers/{offer}"]').click()
    page.wait_for_url(f"**/offers/{offer}")
    assert page.locator("#offer-leases tbody tr").count() == 2
    page.locator(f'#offer-leases a[href="/leases/{leases.open}"]').click()
    page.wait_for_url(f"**/leases/{leases.open}")
    assert _events(page) == ["LeaseOpened"]
    assert "not started" in page.locator("#lease-amounts").inner_text()
