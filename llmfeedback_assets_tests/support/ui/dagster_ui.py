"""`dagster dev` on a free 127.0.0.1 port for a test, the few GraphQL calls the UI tests need, and where their
screenshots go."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ..ops import BIN, REPO, free_port

# Chromium from Debian (scripts/install_browser.sh). The flags keep it off the network and out of the GPU;
# --no-sandbox because CI runs as root.
CHROMIUM = Path(os.environ.get("LLMFEEDBACK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

RUN_STATUS = """query ($filter: RunsFilter) { runsOrError(filter: $filter) {
  __typename ... on Runs { results { runId status creationTime startTime endTime tags { key value } } }
  ... on PythonError { message } } }"""
ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
# Metadata values by label; markdown (tables, plots as data-URI images) is left out: a plot is ~100 kB.
MATERIALIZATIONS = """query ($key: AssetKeyInput!, $limit: Int) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations(limit: $limit) { runId timestamp partition metadataEntries { label
    ... on JsonMetadataEntry { jsonString } ... on IntMetadataEntry { intValue }
    ... on TextMetadataEntry { text } ... on FloatMetadataEntry { floatValue } } } } } }"""
PARTITION_STATUSES = """query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetPartitionStatuses { ... on DefaultPartitionStatuses {
    materializedPartitions failedPartitions materializingPartitions unmaterializedPartitions } } } } }"""
STEP_FAILURES = """query ($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  ... on ExecutionStepFailureEvent { stepKey failureMetadata { description } error { message } } } } } }"""
LOCATIONS = ("{ workspaceOrError { __typename ... on Workspace {\n"
             "  locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError "
             "{ message } } } } } }")


class DagsterDev:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path):
        self.url, self.proc, self.log = url, proc, log

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload = json.load(resp)
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def wait_loaded(self, timeout: float) -> None:
        """Until the webserver answers and the code location has loaded (its error, if it failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"dagster dev exited:\n{self.log.read_text()[-3000:]}"
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                entries = self.graphql(LOCATIONS)["workspaceOrError"].get("locationEntries", [])
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [e["locationOrLoadError"] for e in entries
                              if e["locationOrLoadError"]["__typename"] == "PythonError"]
                    assert not errors, errors
                    return
            time.sleep(1)
        raise AssertionError(f"dagster dev not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def runs(self, tags: dict[str, str]) -> list[dict]:
        data = self.graphql(RUN_STATUS,
                            {"filter": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}})
        return data["runsOrError"]["results"]

    def active_runs(self) -> list[dict]:
        """Runs queued or in progress."""
        return self.graphql(RUN_STATUS, {"filter": {"statuses": ACTIVE}})["runsOrError"]["results"]

    def materializations(self, asset: str, limit: int = 20) -> list[dict]:
        """The asset's latest materializations, newest first: runId, timestamp (ms, as a string), partition
        and `metadata` {label: value}: JSON parsed, numbers and text as they are, None for the other kinds
        (markdown tables and plots, schemas)."""
        data = self.graphql(MATERIALIZATIONS, {"key": {"path": [asset]}, "limit": limit})["assetOrError"]
        out = []
        for m in data.get("assetMaterializations", []):
            values = {}
            for e in m.pop("metadataEntries"):
                label = e.pop("label")
                values[label] = (json.loads(e["jsonString"]) if "jsonString" in e
                                 else next(iter(e.values()), None))
            out.append({**m, "metadata": values})
        return out

    def partition_statuses(self, asset: str) -> dict[str, list[str]]:
        """Partition keys by status: materializedPartitions, failedPartitions, materializingPartitions and
        unmaterializedPartitions."""
        node = self.graphql(PARTITION_STATUSES, {"key": {"path": [asset]}})["assetNodeOrError"]
        return node["assetPartitionStatuses"]

    def step_failures(self, run_id: str) -> list[dict]:
        """The run's step failures: stepKey, failureMetadata.description (a dagster.Failure's one line) and
        the error message."""
        events = self.graphql(STEP_FAILURES, {"runId": run_id})["logsForRun"]["events"]
        return [e for e in events if e.get("stepKey")]

    def wait_run(self, tags: dict[str, str], timeout: float) -> dict:
        """The run carrying `tags`, once it has finished (success or not)."""
        deadline = time.monotonic() + timeout
        runs: list[dict] = []
        while time.monotonic() < deadline:
            runs = self.runs(tags)
            if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return runs[0]
            time.sleep(1)
        raise AssertionError(f"no finished run with {tags} after {timeout}s: {runs}\n"
                             f"{self.log.read_text()[-2000:]}")


@contextlib.contextmanager
def dagster_dev(env: dict, log: Path) -> Iterator[DagsterDev]:
    """`dagster dev -m llmfeedback_assets.definitions` (webserver, daemon, code server) on a free port;
    stopped like Ctrl-C (SIGINT to its process group), killed if it has not exited 30 s later."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-m", "llmfeedback_assets.definitions", "-h", "127.0.0.1",
         "-p", str(port)],
        env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield DagsterDev(f"http://127.0.0.1:{port}", proc, log)
    finally:
        stop_process_group(proc, timeout=30)


def stop_process_group(proc: subprocess.Popen, timeout: float) -> None:
    """Stop a process started with start_new_session=True like Ctrl-C (SIGINT to its group), and kill the
    group if it has not exited after `timeout` seconds (children that outlived the parent)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def publish_screenshots(shots: Path) -> None:
    """Copy a test's screenshots to $LLMFEEDBACK_UI_SCREENSHOTS when it is set (to look at them after CI)."""
    if os.environ.get("LLMFEEDBACK_UI_SCREENSHOTS"):
        out = Path(os.environ["LLMFEEDBACK_UI_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy(png, out / png.name)
