"""A user's day with llmfeedback in `dagster dev`, read in headless Chromium (issue 15, "Done when").

Morning, as `make run` left the project (two simulated judges, boards built): the user drops a prompt file
with one bad line into the incoming folder. Without a click, the sensor ingests it (the bad line lands in
`rejected_inputs`), the declarative automation re-judges with both judges and then rebuilds the boards, once,
after the judging. Afternoon: the user adds two judges to the config, a simulated one and a real one whose
API key was never exported. The new judge gets every per-judge asset; the keyless one fails with the one line
that names the variable, and the boards update without it and say why. Last, the HTML judgment browser
shows a judgment with its reply.

Nothing is launched from the UI or GraphQL: the sensors (30 s, 60 s) and the automation sensor (60 s) do the
work, on their own clocks. They and the runs' step processes (the multiprocess executor starts one Python per
asset and per check: a few seconds each on idle cores, 20 s and more on busy ones) set the pace: about 13
minutes on 2 cores that other tests kept busy (`pytest -s` prints where the time went). Behaviour is asserted
from DuckDB and GraphQL; Chromium opens the pages a person reads and screenshots every board's table and plot
(they live in the leaderboard's metadata), the radar plots, the agreement heat-map, the failed run, the
judge partitions and the browser. Look at them: they go to the test's tmp dir, and to
$LLMFEEDBACK_UI_SCREENSHOTS if set.

Needs Debian's chromium (`bash scripts/install_browser.sh`) and the `playwright` package (dev extra); skips
where /usr/bin/chromium (or $LLMFEEDBACK_CHROMIUM) is absent."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from llmfeedback_assets.analysis.browser import BROWSER_DIR
from llmfeedback_assets.config import load_config
from llmfeedback_assets.defs.spine.jobs import PER_JUDGE_ASSETS
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.dagster_runs import materialize_with_config
from llmfeedback_assets_tests.support.ops import FOUR_JUDGE_MODELS, dagster_env, expected_judgments
from llmfeedback_assets_tests.support.project import write_config, write_jsonl
from llmfeedback_assets_tests.support.ui.dagster_ui import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DagsterDev,
    dagster_dev,
    publish_screenshots,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

JUDGES = ["judge-clean", "judge-noisy"]
RESPONDERS = ["alpha", "bravo", "charlie"]
NEW_JUDGE, KEYLESS = "judge-lenient", "judge-keyless"
UNSET_KEY = "LLMFEEDBACK_TEST_DAY_KEY"  # dagster_env drops every LLMFEEDBACK_* variable: never set in there
ADDED_MODELS = [next(m for m in FOUR_JUDGE_MODELS if m["name"] == NEW_JUDGE),
                {"name": KEYLESS, "provider": "openai", "model": "gpt-4o", "api_key_env": UNSET_KEY}]
KEY_ERROR = f"missing API key(s): {KEYLESS} needs ${UNSET_KEY}"
# rating and ranking too, so a judge's feedback assets call it as well (quality would add DS2's minutes)
MODES = ["single", "pairwise", "rating", "ranking"]
# What a per-judge asset reads besides other per-judge assets: never materialized, automation would wait.
INPUTS = ["prompts", "sim_ground_truth", "responses", "comparisons", "curation_examples", "embeddings",
          "personas", "conversations"]
BOARDS = ["leaderboard", "judge_agreement", "judgment_browser"]
INCOMING = "monday.jsonl"
NEW_PROMPTS = [
    {"question_id": 101, "category": "writing", "turns": ["Write a two-line poem about Monday mornings."]},
    '{"question_id": 102, "turns": ["this line was cut off',  # the bad line: line 2
    {"question_id": 103, "category": "coding", "turns": ["Explain a race condition to a new colleague.",
                                                         "Now give one way to prevent it."]},
]
SENSOR = "dagster/sensor_name"
FIT_CONTENT = "dialog => { dialog.style.width = 'max-content'; dialog.style.maxWidth = '96vw'; }"


@pytest.fixture
def expect():
    """Playwright's `expect`, patient: an asset page carrying a dozen plots takes more than its default 5 s
    to render on 2 busy cores."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    yield expect
    expect.set_options(timeout=5_000)


def test_a_users_day_runs_itself_and_reads_well_in_the_ui(tmp_path, expect):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed: run `bash scripts/install_browser.sh`")
    from playwright.sync_api import sync_playwright

    clock = Clock()
    config = write_config(tmp_path, n_prompts=3, responders=RESPONDERS, judges=JUDGES,
                          judging={"modes": MODES}, incoming_dir=str(tmp_path / "incoming"),
                          leaderboard={"bootstrap_rounds": 100, "seed": 0})
    (tmp_path / "incoming").mkdir()
    env = dagster_env(tmp_path, config)
    _day_zero(config, Path(env["DAGSTER_HOME"]))
    wh = Warehouse(load_config(config).database_path)
    comparisons_before = _pooled_comparisons(wh)
    clock.lap("day zero (as after make run)")
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with dagster_dev(env, tmp_path / "dagster_dev.log") as dev, sync_playwright() as pw:
        dev.wait_loaded(timeout=150)
        dev_started = time.time()
        dev.graphql("mutation { setNuxSeen }")  # the community pop-up a first-time visitor dismisses
        clock.lap("dagster dev loaded")

        # Morning: a prompt file with one bad line is dropped in the incoming folder; nobody clicks.
        write_jsonl(tmp_path / "incoming" / INCOMING, NEW_PROMPTS)
        ingest = dev.wait_run({"llmfeedback/incoming_file": INCOMING}, timeout=150)
        assert ingest["status"] == "SUCCESS", dev.log.read_text()[-3000:]
        assert _tags(ingest)[SENSOR] == "new_prompt_files_sensor"
        clock.lap("sensor ingested the file")
        rejected = wh.table("rejected_inputs")
        assert [(Path(r.source_file).name, r.line) for r in rejected.itertuples()] == [(INCOMING, 2)]
        new_ids = set(wh.query("SELECT prompt_id FROM prompts WHERE source_file LIKE ?", [f"%{INCOMING}"])
                      ["prompt_id"])
        assert len(new_ids) == 2 and wh.count("prompts") == 5
        assert dev.materializations("prompts", limit=1)[0]["metadata"]["rejected_lines"] == 1

        # Both judges re-judge the new prompts, then the boards are rebuilt once, after the judging.
        morning = _wait(dev, "both judges judge the new prompts, then the boards rebuild",
                        lambda: _settled(dev, JUDGES, after=ingest["endTime"] * 1000), timeout=600)
        clock.lap("judged and boards rebuilt")
        rebuilt = [m for m in dev.materializations("leaderboard") if _ms(m) > ingest["endTime"] * 1000]
        assert len(rebuilt) == 1, f"the leaderboard was built {len(rebuilt)} times for one new file"
        assert _run_start_ms(dev, rebuilt[0]["runId"]) >= morning["judged_ms"]
        for judge in JUDGES:
            assert wh.count("judgments", "WHERE judge_model = ?", [judge]) == expected_judgments(wh, judge)
            judged = set(wh.query("SELECT DISTINCT prompt_id FROM judgments WHERE judge_model = ?",
                                  [judge])["prompt_id"])
            assert new_ids <= judged, judge
        assert _pooled_comparisons(wh) > comparisons_before
        board = rebuilt[0]["metadata"]
        assert board["judges_covered"] == JUDGES and board["judges_left_out"] == {}

        # Afternoon: two judges added in the config; the real one's key was never exported.
        cfg = yaml.safe_load(config.read_text())
        cfg["models"] += ADDED_MODELS
        cfg["judges"] += [NEW_JUDGE, KEYLESS]
        config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        edited_ms = time.time() * 1000

        # Meanwhile (the sensors take their time), the morning as the user saw it.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        # tall enough for a board's plot (1100 x 1000 px), wide enough for its table, each in its dialog
        page = browser.new_page(viewport={"width": 1800, "height": 1300})
        page.set_default_timeout(60_000)
        page.goto(f"{dev.url}/locations/llmfeedback_assets.definitions/sensors/new_prompt_files_sensor")
        expect(page.get_by_text(ingest["runId"][:8]).first).to_be_visible()
        page.screenshot(path=shots / "01-sensor-ingested-the-file.png")
        _board_dialogs(page, dev, shots, "02-morning", ["pooled"], expect)
        page.goto("about:blank")  # an open Dagster page polls the webserver every 2 s: not while waiting

        _wait(dev, f"{NEW_JUDGE} gets every per-judge asset, {KEYLESS} fails, the boards cover {NEW_JUDGE}",
              lambda: _judges_added(dev, after=edited_ms), timeout=600)
        clock.lap("new judges: assets materialized, boards rebuilt")

        # one run per added judge, launched once: the keyless judge failed once, with the one line
        keyless, added = dev.runs({"dagster/partition": KEYLESS}), dev.runs({"dagster/partition": NEW_JUDGE})
        assert [r["status"] for r in keyless] == ["FAILURE"] and [r["status"] for r in added] == ["SUCCESS"]
        failures = [(f["stepKey"], f["failureMetadata"]["description"])
                    for f in dev.step_failures(keyless[0]["runId"])]
        assert failures == [("judgments", KEY_ERROR)]
        for asset in ("leaderboard", "judge_agreement"):
            md = dev.materializations(asset, limit=1)[0]["metadata"]
            assert md["judges_covered"] == sorted([*JUDGES, NEW_JUDGE]), asset
            assert md["judges_left_out"] == {KEYLESS: "failed run"}, asset
        counts = {j: wh.count("judgments", "WHERE judge_model = ?", [j]) for j in (NEW_JUDGE, KEYLESS)}
        assert counts == {NEW_JUDGE: expected_judgments(wh, NEW_JUDGE), KEYLESS: 0}
        for table in ("feedback_ratings", "feedback_rankings"):
            assert wh.count(table, "WHERE judge_model = ?", [NEW_JUDGE]) > 0, table
        assert sorted(wh.query("SELECT model FROM leaderboard WHERE judge_model = ?", [NEW_JUDGE])["model"]) \
            == RESPONDERS
        # every run of the day came from a sensor or the automation, none from a click
        day = [r for r in dev.runs({}) if r["creationTime"] >= dev_started]
        assert day and all(SENSOR in _tags(r) and "dagster/from_ui" not in _tags(r) for r in day), day

        # What the user reads: the coverage, every board and plot, the failed run, the partitions.
        page.goto(f"{dev.url}/assets/leaderboard")
        coverage = page.locator("tr").filter(has=page.get_by_text("judge_coverage", exact=True)).first
        expect(coverage).to_contain_text(KEYLESS)
        expect(coverage).to_contain_text("failed run")
        coverage.scroll_into_view_if_needed()
        page.screenshot(path=shots / "03-leaderboard-coverage.png")
        _board_dialogs(page, dev, shots, "04-board", ["pooled", *JUDGES, NEW_JUDGE], expect)
        for judge in [*JUDGES, NEW_JUDGE]:
            _plot_dialog(page, f"mt_bench_radar/{judge}", shots / f"05-radar-{judge}.png", expect)
        page.goto(f"{dev.url}/assets/judge_agreement")
        _plot_dialog(page, "heatmap", shots / "06-judge-agreement-heatmap.png", expect)
        page.goto(f"{dev.url}/runs/{keyless[0]['runId']}")
        # the failed step, as a person clicks it in the run's step panel: its one line, kind and what to do
        page.locator("[class*=GanttStatusPanel_stepLabel]").get_by_text("judgments", exact=True).click()
        expect(page.get_by_text(KEY_ERROR).first).to_be_visible()
        expect(page.get_by_text("what to do").first).to_be_visible()
        page.screenshot(path=shots / "07-keyless-judge-run-failed.png")
        page.goto(f"{dev.url}/assets/judgments?view=partitions")
        for judge in [*JUDGES, NEW_JUDGE, KEYLESS]:
            expect(page.get_by_text(judge, exact=True).first).to_be_visible()
        page.get_by_text(KEYLESS, exact=True).first.click()
        expect(page.get_by_text(keyless[0]["runId"][:8]).first).to_be_visible()
        page.screenshot(path=shots / "08-judgment-partitions.png")

        # Last: the HTML judgment browser, opened from disk, shows the new judge's judgments and replies.
        _judgment_browser(page, load_config(config).resolve(BROWSER_DIR) / "index.html",
                          shots / "09-judgment-browser.png", expect)
        browser.close()
        clock.lap("screenshots")

    print(clock)
    pngs = sorted(shots.glob("*.png"))
    assert len(pngs) == 19 and all(p.stat().st_size > 10_000 for p in pngs), [p.name for p in pngs]
    publish_screenshots(shots)


def _day_zero(config: Path, home: Path) -> None:
    """The project as `make run` leaves it, for what the day touches: every input of a per-judge asset, both
    judges' per-judge assets and the boards. In this process: setup, not the thing under test."""
    import dagster as dg

    from llmfeedback_assets.definitions import defs
    from llmfeedback_assets.defs.partitions import sync_judge_partitions

    assets = [*defs.assets, *defs.asset_checks]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        sync_judge_partitions(instance, JUDGES)
        for selection, partition in [(INPUTS, None), *((list(PER_JUDGE_ASSETS), j) for j in JUDGES),
                                     (BOARDS, None)]:
            materialize_with_config(assets, instance, config, selection, partition)


def _settled(dev: DagsterDev, judges: list[str], after: float) -> dict | None:
    """When every judge's judgments materialized after `after` (ms), the boards after the last of them,
    and no run is left: {"judged_ms": that last judgment}."""
    if dev.active_runs():
        return None
    judgments = [m for m in dev.materializations("judgments", limit=50) if _ms(m) > after]
    if not set(judges) <= {m["partition"] for m in judgments}:
        return None
    judged = max(_ms(m) for m in judgments)
    built = all(any(_ms(m) > judged for m in dev.materializations(b, limit=3)) for b in BOARDS)
    return {"judged_ms": judged} if built else None


def _judges_added(dev: DagsterDev, after: float) -> bool:
    """The new judge has every per-judge asset, the keyless judge's judgments failed, the boards cover the
    new judge, and no run is left."""
    if dev.active_runs():
        return False
    if KEYLESS not in dev.partition_statuses("judgments")["failedPartitions"]:
        return False
    if any(NEW_JUDGE not in dev.partition_statuses(a)["materializedPartitions"] for a in PER_JUDGE_ASSETS):
        return False
    latest = {b: dev.materializations(b, limit=1) for b in BOARDS}
    return (all(m and _ms(m[0]) > after for m in latest.values())
            and NEW_JUDGE in latest["leaderboard"][0]["metadata"]["judges_covered"])


def _board_dialogs(page, dev: DagsterDev, shots: Path, prefix: str, boards: list[str], expect) -> None:
    """Each board's table and plot, as a person opens them from the leaderboard's metadata."""
    page.goto(f"{dev.url}/assets/leaderboard")
    for name in boards:
        table = _open_markdown(page, f"board/{name}/table", expect)
        # wider than Dagster's dialog (a person scrolls it sideways): let the dialog fit it, for the picture
        page.get_by_role("dialog").evaluate(FIT_CONTENT)
        expect(table).to_contain_text("How to read this board")
        for model in RESPONDERS:
            expect(table).to_contain_text(model)
        table.screenshot(path=shots / f"{prefix}-{name}-table.png")
        _close(page)
        _plot_dialog(page, f"board/{name}/plot", shots / f"{prefix}-{name}-plot.png", expect)


def _plot_dialog(page, label: str, path: Path, expect) -> None:
    """Open the plot in metadata entry `label`, check the image decoded, screenshot it and close it."""
    plot = _open_markdown(page, label, expect)
    image = plot.locator("img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") > 0, label
    plot.screenshot(path=path)
    _close(page)


def _open_markdown(page, label: str, expect):
    """Click "[Show Markdown]" in the metadata row `label`; the rendered markdown of the dialog."""
    row = page.locator("tr").filter(has=page.get_by_text(label, exact=True)).first
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(label, exact=True)).to_be_visible()
    return dialog.locator(".dagster-markdown").first


def _close(page) -> None:
    page.keyboard.press("Escape")
    page.get_by_role("dialog").wait_for(state="detached")


def _judgment_browser(page, html: Path, path: Path, expect) -> None:
    """The static browser from disk: the new judge is a filter, and one of its judgments shows its reply."""
    text = html.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)[1])
    mine = [j for j in data["judgments"] if j["judge"] == NEW_JUDGE]
    assert mine and not [j for j in data["judgments"] if j["judge"] == KEYLESS]
    sample = next(j for j in mine if j["e1"] and "<" not in j["e1"])  # a reply that quotes no markup
    reply_line = sample["e1"].splitlines()[0][:60]
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(html.as_uri())
    page.locator("#f-judge").select_option(NEW_JUDGE)
    expect(page.locator(".judgment")).to_have_count(len(mine))  # 5 questions: one page
    card = page.locator(".judgment").filter(has_text=reply_line).first
    expect(card.locator(".judge")).to_have_text(NEW_JUDGE)
    expect(card.locator(".explanation .text").first).to_contain_text(reply_line)
    card.scroll_into_view_if_needed()
    page.screenshot(path=path)
    assert not problems, problems


def _wait(dev: DagsterDev, what: str, check: Callable, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(5)  # the runs take minutes; each poll costs the webserver several queries
    runs = [(r["status"], _tags(r).get("dagster/partition"), _tags(r).get(SENSOR)) for r in dev.runs({})]
    raise AssertionError(f"not within {timeout}s: {what}\nruns: {runs}\n{dev.log.read_text()[-3000:]}")


def _pooled_comparisons(wh: Warehouse) -> int:
    return int(wh.query("SELECT sum(n_comparisons) AS n FROM leaderboard WHERE judge_model = '__pooled__'")
               ["n"].iloc[0])


def _tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def _ms(materialization: dict) -> float:
    return float(materialization["timestamp"])


def _run_start_ms(dev: DagsterDev, run_id: str) -> float:
    run = next(r for r in dev.runs({}) if r["runId"] == run_id)
    return run["startTime"] * 1000


class Clock:
    """Where the day's minutes go, printed at the end (`pytest -s`)."""

    def __init__(self):
        self.start = self.last = time.monotonic()
        self.laps: list[str] = []

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self.laps.append(f"{now - self.last:6.1f}s  {what}")
        self.last = now

    def __str__(self) -> str:
        return "\n".join([*self.laps, f"{time.monotonic() - self.start:6.1f}s  in all"])
