"""The dashboard in a real browser: Debian's chromium driven by Playwright, on a pipeline filled
with the demo's synthetic sessions.

Each view must show the numbers the API returns (every shown number carries its raw value in
``data-value``), a new event must appear without reloading, no console error may occur and the
page may not send a single request to another origin. Screenshots of each view are taken; with
``BP_SCREENSHOTS=docs`` they are written to docs/ for the README (``bin/setup --tests``
installs chromium; Playwright's own browser download is never used).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from blueplane_core import events, synthetic
from blueplane_core.emit import Emitter
from tests.conftest import REPO
from tests.helpers import ingest_all
from tests.query_data import COMMITS, MODEL, commit_event, fill, run_workers
from tests.service_harness import Service, running_service

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (bin/setup --tests installs it)",
    ),
]

VIEWS = ("overview", "block", "charts", "sessions", "timeline", "tools", "commits", "insights")


@pytest.fixture
def demo_service(redis_client: redis.Redis) -> Iterator[Service]:
    now = time.time()
    # 3000 demo events: ~70 sessions over the last six hours (seeded, so the same every run)
    batch = synthetic.take(3000, seed=7, start_unix=now - 6 * 3600)
    batch += [commit_event(c, w, now - m * 60) for c, w, m in COMMITS]
    fill(redis_client, batch)
    with running_service() as service:
        yield service


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield instance
        instance.close()


def shots_folder(tmp_path: Path) -> Path:
    return REPO / "docs" if os.environ.get("BP_SCREENSHOTS") == "docs" else tmp_path


class Watched:
    """A page whose console errors and requests are all recorded."""

    def __init__(self, browser: Any, service: Service, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("websocket", lambda ws: self.requests.append(ws.url))
        self.page.goto(service.base + "/")
        self.page.wait_for_selector("body[data-ready=true]", timeout=30_000)

    def value(self, key: str, nth: int = 0) -> str:
        return str(self.page.locator(f'[data-key="{key}"]').nth(nth).get_attribute("data-value"))

    def close(self) -> None:
        self.context.close()


def same(shown: str, expected: Any) -> bool:
    if expected is None:
        return shown == ""
    if isinstance(expected, float):
        return abs(float(shown) - expected) < 1e-9
    return shown == str(expected)


def test_each_view_shows_the_api_numbers_and_updates_live(
    demo_service: Service, browser: Any, redis_client: redis.Redis, tmp_path: Path
) -> None:
    service = demo_service
    watched = Watched(browser, service, viewport={"width": 1280, "height": 900})
    page = watched.page
    page.screenshot(path=str(shots_folder(tmp_path) / "dashboard.png"))  # the first screen

    # overview cards: today, 7 and 30 days, computed and official cost side by side
    overview = service.get("/api/v1/metrics/overview")
    for card in overview["cards"]:
        for name in (
            "cost_usd",
            "cost_official_usd",
            "tokens",
            "sessions",
            "acceptance_rate",
            "tool_error_rate",
            "api_error_rate",
            "active_hours",
        ):
            shown = watched.value(f"{card['window']}.{name}")
            assert same(shown, card[name]), (card["window"], name, shown, card[name])
    assert overview["cards"][0]["sessions"] > 10  # the demo's sessions are there

    # the current block (the demo's requests end now: one is active)
    block = service.get("/api/v1/metrics/live")["block"]
    assert block is not None
    assert same(watched.value("block.cost_usd"), block["cost_usd"])
    assert same(watched.value("block.requests"), block["requests"])

    # charts: one bar per day / model / project, heights from the API's values
    by_day = service.get("/api/v1/costs?by=day&since=30d")["rows"]
    bars = page.locator('[data-key="cost-day"] rect.bar-fill')
    assert bars.count() == len(by_day)
    assert [float(b) for b in bars.evaluate_all("els => els.map(e => e.dataset.value)")] == [
        r["cost_usd"] for r in by_day
    ]
    by_model = service.get("/api/v1/costs?by=model&since=30d")["rows"]
    assert page.locator('[data-key="cost-model"] rect.bar-fill').count() == len(by_model)

    # sessions: the newest page, in the API's order
    sessions = service.get("/api/v1/sessions?limit=15&page=1")
    assert same(watched.value("sessions.total"), sessions["total"])
    rows = page.locator("#sessions-table tbody tr")
    assert rows.evaluate_all("els => els.map(e => e.dataset.session)") == [
        s["session_id"] for s in sessions["sessions"]
    ]

    # the timeline of the newest session
    first = sessions["sessions"][0]["session_id"]
    rows.first.click()
    page.wait_for_selector("#timeline:not([hidden]) #timeline-list li")
    timeline = service.get(f"/api/v1/sessions/{first}/timeline")
    assert page.locator("#timeline-list li").count() == len(timeline["items"])
    assert same(watched.value("t.prompts"), timeline["session"]["prompts"])

    # tool heatmap: every cell's count is the API's
    heat = service.get("/api/v1/tools/heatmap?since=30d")
    cells = page.locator('[data-key="heatmap"] rect[data-tool]')
    assert cells.count() == 24 * len(heat["tools"])
    shown_total = sum(int(v) for v in cells.evaluate_all("els => els.map(e => e.dataset.value)"))
    assert shown_total == sum(t["calls"] for t in heat["tools"])

    # commits and the agent-assisted share; insights
    commits = service.get("/api/v1/commits?since=30d")
    assert same(watched.value("commits.commits"), commits["commits"]) and commits["commits"] == 2
    assert same(watched.value("commits.assisted_share"), commits["assisted_share"])
    insights = service.get("/api/v1/insights?limit=20")
    assert same(watched.value("insights.total"), insights["total"])
    assert page.locator("#insights-list li").count() == min(20, len(insights["insights"]))

    shots = shots_folder(tmp_path)
    # the sticky header would cover the top of each section's picture
    page.evaluate("document.querySelector('header').style.position = 'static'")
    for view in VIEWS:
        page.locator(f"#{view}").screenshot(path=str(shots / f"dashboard-{view}.png"))

    # live: a new request appears in the event feed, then in today's counters, no reload
    requests_before = int(watched.value("live.requests"))
    marker = f"req_live_{time.time_ns()}"
    Emitter(redis_client).emit_many(
        [
            events.make_event(
                event_type="token_usage",
                platform="claude_code",
                source="hook",
                session_id=first,
                payload={
                    "prompt_id": "p-live",
                    "request_id": marker,
                    "message_id": marker,
                    "model": MODEL,
                    "input_tokens": 1200,
                    "output_tokens": 300,
                },
            )
        ]
    )
    ingest_all()
    page.wait_for_selector('#events li[data-type="token_usage"]', timeout=15_000)
    assert "1.5k tok" in page.locator('#events li[data-type="token_usage"]').first.inner_text()
    run_workers()
    page.wait_for_function(
        "n => Number(document.querySelector('[data-key=\"live.requests\"]').dataset.value) === n",
        arg=requests_before + 1,
        timeout=15_000,
    )

    assert watched.errors == []
    local = (service.base + "/", f"ws://127.0.0.1:{service.port}/")
    elsewhere = [u for u in watched.requests if not u.startswith(local) and u != "data:,"]
    assert elsewhere == [], elsewhere  # nothing leaves the machine
    watched.close()


def test_phone_and_dark_layouts_render_without_errors(
    demo_service: Service, browser: Any, tmp_path: Path
) -> None:
    shots = shots_folder(tmp_path)
    phone = Watched(
        browser,
        demo_service,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    # nothing wider than the screen but the tables, which scroll in their own box
    overflow = phone.page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390, overflow
    phone.page.screenshot(path=str(shots / "dashboard-phone.png"))
    assert phone.errors == []
    phone.close()
    dark = Watched(
        browser, demo_service, viewport={"width": 1280, "height": 900}, color_scheme="dark"
    )
    background = dark.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 20, 27)"  # --bg of the dark theme
    dark.page.screenshot(path=str(shots / "dashboard-dark.png"))
    assert dark.errors == []
    dark.close()


def test_the_page_asks_for_nothing_outside_the_package() -> None:
    """Every file the page references is shipped in blueplane_query/dashboard/."""
    import re

    folder = REPO / "blueplane_query" / "dashboard"
    text = "\n".join(
        p.read_text() for p in folder.iterdir() if p.suffix in (".html", ".js", ".css")
    )
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    assert "@import" not in text and "url(" not in text
    for ref in re.findall(r'(?:src|href)="/static/([^"]+)"', text):
        assert (folder / ref).is_file(), ref
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
