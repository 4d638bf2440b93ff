"""The Dagster UI used as a person would, in headless Chromium: `dagster dev` on 127.0.0.1, the asset graph
shows the project's groups, the judgments asset lists its judge_model partitions, one partition is launched
from the asset's Materialize dialog, and the run succeeds and lands its rows.

Needs Debian's chromium (`bash scripts/install_browser.sh`) and the `playwright` package (dev extra); it
drives the system browser and never downloads one. Skips where /usr/bin/chromium (or $LLMFEEDBACK_CHROMIUM)
is absent. Screenshots go to the test's tmp dir, and also to $LLMFEEDBACK_UI_SCREENSHOTS if set."""

from __future__ import annotations

import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse, table
from llmfeedback_assets_tests.support.ops import (
    dagster_env,
    expected_judgments,
    judgment_counts,
    prepare_inputs,
)
from llmfeedback_assets_tests.support.project import write_config
from llmfeedback_assets_tests.support.ui.dagster_ui import (
    CHROMIUM,
    CHROMIUM_ARGS,
    dagster_dev,
    publish_screenshots,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
GROUPS = ["ingest", "generation", "judging", "analysis"]
JUDGE = "judge-clean"


def test_ui_shows_the_graph_and_partitions_and_launches_a_judge_partition(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed: run `bash scripts/install_browser.sh`")
    from playwright.sync_api import expect, sync_playwright

    config = write_config(tmp_path, n_prompts=3)
    env = dagster_env(tmp_path, config)
    prepare_inputs(env)  # partitions registered and the judges' inputs in DuckDB, as after `make run`
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with dagster_dev(env, tmp_path / "dagster_dev.log") as dev:
        dev.wait_loaded(timeout=150)
        dev.graphql("mutation { setNuxSeen }")  # the community pop-up a first-time visitor dismisses
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900})
            page = browser.new_page()
            page.set_default_timeout(60_000)

            # The global asset graph: one node per group.
            page.goto(f"{dev.url}/asset-groups")
            graph = page.locator("svg foreignObject")
            for group in GROUPS:
                expect(graph.get_by_text(group, exact=True).first).to_be_visible()
            # open the group with its node's unfold control: its asset appears (a double click on the
            # label left the group collapsed in Chromium 156, the Debian build .ci/run installs now)
            node = graph.filter(has=page.get_by_text("judging", exact=True)).first
            node.get_by_role("img", name="unfold_more").click()
            expect(graph.get_by_text("judgments", exact=True).first).to_be_visible()
            page.screenshot(path=shots / "asset-graph.png")

            # The judgments asset's partitions are the configured judges, none materialized yet.
            page.goto(f"{dev.url}/assets/judgments?view=partitions")
            for judge in load_config(config).judges:
                expect(page.get_by_text(judge, exact=True).first).to_be_visible()
            page.screenshot(path=shots / "judge-partitions.png")

            # Materialize one partition from the dialog a person would use.
            page.get_by_role("button", name="Materialize…").click()
            page.get_by_text("Select a partition or create one").click()
            page.get_by_placeholder("Filter partitions").fill(JUDGE)
            page.get_by_role("menuitem").filter(has=page.locator(f'[data-tooltip="{JUDGE}"]')).click()
            page.keyboard.press("Escape")
            launch = page.get_by_role("button", name="Launch 1 run")
            expect(launch).to_be_enabled()
            page.screenshot(path=shots / "launch-dialog.png")
            launch.click()

            # The run the dialog launched (the UI tags its runs), not one a sensor may have started.
            run = dev.wait_run({"dagster/partition": JUDGE, "dagster/from_ui": "true"}, timeout=180)
            assert run["status"] == "SUCCESS", dev.log.read_text()[-3000:]
            page.goto(f"{dev.url}/runs/{run['runId']}")
            expect(page.get_by_text("Success", exact=True).first).to_be_visible()
            expect(page.get_by_text("Loading run logs")).to_have_count(0)
            page.screenshot(path=shots / "run-success.png")

            # The partition's latest materialization is now that run.
            page.goto(f"{dev.url}/assets/judgments?view=partitions")
            page.get_by_text(JUDGE, exact=True).first.click()
            expect(page.get_by_text(run["runId"][:8]).first).to_be_visible()
            page.screenshot(path=shots / "judge-partitions-after.png")

            # Every table asset shows its declared columns, each with its description.
            page.goto(f"{dev.url}/assets/judgments")
            expect(page.get_by_text(table("judgments").columns[1].description).first).to_be_visible()
            page.screenshot(path=shots / "judgments-columns.png")
            browser.close()

        shown = _column_descriptions(dev)
    assert set(shown) >= {"prompts", "responses", "judgments", "leaderboard", "quality_scores", "personas",
                          "feedback_ratings", "ratings_reward_model", "rm_win_rate"}
    for asset, (table_name, columns) in shown.items():
        assert columns == {c.name: c.description for c in table(table_name).columns}, asset
        assert all(columns.values()), asset

    wh = Warehouse(load_config(config).database_path)
    counts = judgment_counts(wh)
    assert list(counts.index) == [JUDGE]
    assert counts.loc[JUDGE, "n"] == counts.loc[JUDGE, "distinct_ids"] == expected_judgments(wh, JUDGE)
    assert all(p.stat().st_size > 10_000 for p in shots.glob("*.png")) and len(list(shots.glob("*.png"))) == 6
    publish_screenshots(shots)


def _column_descriptions(dev) -> dict[str, tuple[str, dict[str, str]]]:
    """Per asset whose definition declares a column schema, as the webserver serves it to the UI:
    {asset: (table it writes, {column: description})}."""
    data = dev.graphql("""{ assetNodes { assetKey { path } metadataEntries { label
        ... on TextMetadataEntry { text }
        ... on TableSchemaMetadataEntry { schema { columns { name description } } } } } }""")
    out = {}
    for node in data["assetNodes"]:
        entries = {e["label"]: e for e in node["metadataEntries"]}
        if "dagster/column_schema" in entries:
            columns = entries["dagster/column_schema"]["schema"]["columns"]
            table_name = entries["dagster/table_name"]["text"].rsplit(".", 1)[-1]
            out[node["assetKey"]["path"][-1]] = (table_name, {c["name"]: c["description"] for c in columns})
    return out
