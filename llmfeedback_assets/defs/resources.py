"""The one resource every asset uses: config, warehouse and gateway, built from the YAML config.

It holds only a path to the config (no secrets): API keys stay in environment variables and reach the
providers at call time, never run config, logs or metadata.

It also keeps killed runs from spending: a step of the multiprocess executor whose run worker died (kill -9
of `dagster asset materialize`) stops sending model requests and marks its run failed, and every step that
builds a gateway first marks failed the STARTED runs of this host whose run worker process is gone (Dagster's
run monitoring cannot see those: the default run launcher has no worker health check, and a CLI run has no
launcher at all).
"""

from __future__ import annotations

import multiprocessing
import os

import dagster as dg
from pydantic import Field, PrivateAttr

from ..config import Config, ConfigError, load_config
from ..llm import Gateway, RunStats
from ..llm.claims import LEASE_S
from ..llm.journal import HOST, process_gone, process_start_time
from ..warehouse import Warehouse

# "<host>/<pid>/<kernel start time>" of the process running a run's steps (its run worker), set by the
# first step that builds a gateway, so a later run can tell that the worker is gone.
WORKER_TAG = "llmfeedback/run_worker"


class LLMFeedbackResource(dg.ConfigurableResource):
    """Config path (default: $LLMFEEDBACK_CONFIG or data/config/llmfeedback.yaml) and an optional DuckDB path.

    The config is read once per step (or sensor tick) when Dagster sets the resource up, so every asset,
    check and sensor of that step sees the same config."""

    config_path: str | None = None
    database: str | None = None
    claim_lease_s: float = Field(
        LEASE_S, gt=0, description="seconds without a heartbeat after which another run takes over a run's "
                                   "claimed model requests (a dead process on this host is noticed at once)")
    stop_when_orphaned: bool = Field(
        True, description="a multiprocess-executor step stops sending model requests, and marks its run "
                          "failed, when its run worker process dies")
    _config: Config | None = PrivateAttr(default=None)
    _config_error: ConfigError | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A bad config fails the first step body that reads it, where `one_line_failure` (defs/errors.py)
        # shows its one line; raised here, Dagster would wrap it in a resource-initialization traceback.
        try:
            self._config = load_config(self.config_path)
        except ConfigError as exc:
            self._config_error = exc

    def load(self) -> Config:
        if self._config_error is not None:
            raise ConfigError(str(self._config_error)) from None
        return self._config if self._config is not None else load_config(self.config_path)

    def warehouse(self, config: Config | None = None) -> Warehouse:
        config = config or self.load()
        return Warehouse.from_config(config, self.database)

    def gateway(self, context: dg.AssetExecutionContext, config: Config, warehouse: Warehouse) -> Gateway:
        def report(stats: RunStats) -> None:
            context.log.info("model calls: " + stats.line())

        instance, run = context.instance, context.run
        worker = _run_worker(context)
        if worker is not None:
            tag = f"{HOST}/{worker[0]}/{process_start_time(worker[0])}"
            if run.tags.get(WORKER_TAG) != tag:
                instance.add_run_tags(run.run_id, {WORKER_TAG: tag})
        for run_id, message in fail_dead_runs(instance, exclude=run.run_id):
            context.log.warning(f"marked run {run_id} failed: {message}")

        def orphaned(message: str) -> None:
            current = instance.get_run_by_id(run.run_id)
            if current is not None and current.status == dg.DagsterRunStatus.STARTED:
                instance.report_run_failed(current, message=message)

        watch = self.stop_when_orphaned and worker is not None and worker[1]
        what = context.asset_key.to_user_string() + (f" [{context.partition_key}]"
                                                      if context.has_partition_key else "")
        return Gateway(config, warehouse, progress=report, progress_every_s=15.0,
                       claim_lease_s=self.claim_lease_s, claim_label=f"Dagster run {run.run_id} ({what})",
                       parent_pid=worker[0] if watch else None, on_orphaned=orphaned if watch else None)


def _run_worker(context: dg.AssetExecutionContext) -> tuple[int, bool] | None:
    """(pid of this run's run worker, whether this step runs in a child process of it), when the run uses
    Dagster's in-process or multiprocess executor; None for executors whose steps run elsewhere (Celery,
    Kubernetes), where a local pid means nothing."""
    executor = context.job_def.executor_def.name
    parent = multiprocessing.parent_process()  # set in a multiprocess executor's (spawned) step process
    if executor in ("multi_or_in_process_executor", "multiprocess") and parent is not None and parent.pid:
        return parent.pid, True
    if executor in ("multi_or_in_process_executor", "in_process") and parent is None:
        return os.getpid(), False
    return None


def fail_dead_runs(instance: dg.DagsterInstance, exclude: str | None = None,
                   limit: int = 500) -> list[tuple[str, str]]:
    """Mark failed the STARTED runs whose run worker (WORKER_TAG) was on this host and is gone; returns
    (run id, message) per run marked."""
    marked = []
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]),
                                       limit=limit)
    for record in records:
        run = record.dagster_run
        tag = run.tags.get(WORKER_TAG)
        if run.run_id == exclude or not tag:
            continue
        host, pid, start = (tag.rsplit("/", 2) + ["", ""])[:3]
        if host != HOST or not pid.isdigit() or not process_gone(int(pid), start or "0"):
            continue
        current = instance.get_run_by_id(run.run_id)  # it may have finished while we looked
        if current is None or current.status != dg.DagsterRunStatus.STARTED:
            continue
        message = (f"its run worker (pid {pid} on {host}) is gone - killed or crashed - while the run was "
                   "STARTED; the steps it ran stopped (see llm_journal for the answers kept)")
        instance.report_run_failed(current, message=message)
        marked.append((run.run_id, message))
    return marked
