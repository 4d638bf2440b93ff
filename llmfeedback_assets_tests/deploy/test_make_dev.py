"""`make dev`, as a newcomer runs it, opens the UI without the two warnings it used to print first: Dagster's
SupersessionWarning about `dagster dev` and "Found a dagster instance configuration value (dagster.yaml) in
the current folder ... will not be used". Runs the Makefile's own target from the repo root (where the
template dagster.yaml sits) with a temp DAGSTER_HOME and a free port; stopped like Ctrl-C once the
webserver answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from llmfeedback_assets_tests.support.ops import REPO, free_port
from llmfeedback_assets_tests.support.project import write_config
from llmfeedback_assets_tests.support.ui.dagster_ui import stop_process_group

pytestmark = pytest.mark.slow

WARNING_TEXTS = ("SupersessionWarning", "is superseded and its usage is discouraged",
                 "Found a dagster instance configuration", "will not be used to configure Dagster",
                 "BetaWarning")  # the automation sensor's beta flag (definitions.py silences it)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP error is still the webserver answering
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_make_dev_starts_the_ui_without_the_two_warnings(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    try:
        port = free_port()
    except OSError as exc:
        pytest.skip(f"cannot bind a port on 127.0.0.1: {exc}")
    config = write_config(tmp_path, n_prompts=3)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMFEEDBACK_", "DAGSTER_", "MAKE", "PYTHONWARNINGS")) and k != "MFLAGS"}
    env.update(LLMFEEDBACK_CONFIG=str(config), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log = tmp_path / "make_dev.log"
    # -o: use the installed venv as it is (never reinstall from a test), as after `make run`.
    args = [make, "-o", ".venv/.installed", "dev", f"DAGSTER_HOME={tmp_path / 'dagster_home'}",
            f"DEV_PORT={port}"]
    with log.open("w") as out:
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 55
        while not _answers(f"http://127.0.0.1:{port}/server_info"):
            assert proc.poll() is None, f"make dev exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no webserver after 55 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
    finally:
        stop_process_group(proc, timeout=20)
    output = log.read_text()
    assert f"http://127.0.0.1:{port}" in output  # the line `make dev` prints for the newcomer
    for text in WARNING_TEXTS:
        assert text not in output, f"{text!r} in the output of `make dev`:\n{output[-3000:]}"
