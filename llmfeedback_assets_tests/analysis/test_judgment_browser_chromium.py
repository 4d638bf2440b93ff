"""The judgment browser opened from disk in headless Chromium, as a person would: a judgment and its reply are
on screen, the malicious answer reads as text and runs nothing, and "disagreements only" leaves exactly the
flagged judgments.

Needs Debian's chromium (`bash scripts/install_browser.sh`) and the `playwright` package (dev extra); skips
where /usr/bin/chromium (or $LLMFEEDBACK_CHROMIUM) is absent. Screenshots go to the test's tmp dir."""

from __future__ import annotations

import json
import re

import pytest

from llmfeedback_assets.analysis.browser import BROWSER_DIR
from llmfeedback_assets.config import load_config
from llmfeedback_assets_tests.support.ui.dagster_ui import CHROMIUM, CHROMIUM_ARGS

from .conftest import EVIL

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_browser_shows_replies_and_filters_disagreements_in_chromium(judged, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed: run `bash scripts/install_browser.sh`")
    from playwright.sync_api import expect, sync_playwright

    judged.materialize(["judgment_browser"])
    page_file = load_config(judged.config).resolve(BROWSER_DIR) / "index.html"
    html = page_file.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S)[1])
    judgments = data["judgments"]
    flagged = [j for j in judgments if j["dj"] or j["do"]]
    assert flagged and len(flagged) < len(judgments)
    # a reply that quotes no markup, so its first line is plain text on screen
    sample = next(j for j in judgments if "<" not in j["e1"])
    reply_line = sample["e1"].splitlines()[0][:60]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.goto(page_file.as_uri())

        status = page.locator("#status")
        expect(status).to_have_text(f"{len(judgments)} judgments on {len(data['questions'])} questions match")
        expect(page.locator(".judgment")).to_have_count(len(judgments))  # 4 questions: one page
        card = page.locator(".judgment").filter(has_text=reply_line).first
        expect(card).to_be_visible()
        expect(card.locator(".judge")).to_have_text(sample["judge"])
        expect(card.locator(".explanation .text").first).to_contain_text(reply_line)
        # the poisoned answer is shown as the characters it is made of, and none of it ran
        expect(page.locator(".answer .text").filter(has_text=EVIL.strip()[:33]).first).to_be_visible()
        assert page.evaluate("typeof window.pwned") == "undefined"
        page.screenshot(path=shots / "all-judgments.png", full_page=True)

        page.get_by_label("Disagreements only").check()
        questions = len({j["q"] for j in flagged})
        expect(status).to_have_text(f"{len(flagged)} judgments on {questions} questions match")
        expect(page.locator(".judgment")).to_have_count(len(flagged))
        expect(page.locator(".judgment:not(.disagree)")).to_have_count(0)
        expect(page.locator(".judgment .badge").first).to_be_visible()
        page.screenshot(path=shots / "disagreements-only.png", full_page=True)

        page.locator("#f-judge").select_option("judge-clean")
        clean = [j for j in flagged if j["judge"] == "judge-clean"]
        expect(page.locator(".judgment")).to_have_count(len(clean))
        page.locator("#f-text").fill("no question says this")
        expect(status).to_have_text("No judgments match these filters.")
        expect(page.locator(".judgment")).to_have_count(0)
        browser.close()

    assert not problems, problems
    assert all(p.stat().st_size > 10_000 for p in shots.glob("*.png")) and len(list(shots.glob("*.png"))) == 2
