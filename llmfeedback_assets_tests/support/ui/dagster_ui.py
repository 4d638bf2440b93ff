"""`dagster dev` on a free 127.0.0.1 port for a test, and the few GraphQL calls the test needs."""

from __future__ import annotations

import contextlib
import json
import os
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
  __typename ... on Runs { results { runId status tags { key value } } } ... on PythonError { message } } }"""
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
