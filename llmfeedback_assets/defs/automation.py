"""Declarative automation over judge partitions, and the coverage a board reports.

A removed judge's judge_model partition is kept (its data stays readable), so plain `eager()` relaunched it
on every upstream change and it failed again; and `eager()` on a board over all judges counts every
partition that never materialized (a judge whose first run failed, a removed judge) as a missing input, so
the board never refreshed again. Hence:

- `per_judge_eager()` on every per-judge asset: eager, restricted to the judges the config lists, so a new
  judge gets every per-judge asset and a removed one is never launched;
- `eager_over_judges()` on the leaderboard and judge agreement: waits while any judge partition, or an
  input of one (responses being generated), is in progress or requested this tick, so a board is built
  once, after re-judging; it needs configured judges' partitions to exist, except those whose latest run
  failed, and never a removed judge's;
- `judge_coverage()`: which judges a board covers, which it leaves out, and why.

The config is read on each evaluation from the resource's default path ($LLMFEEDBACK_CONFIG or the bundled
file), like a sensor tick. `ConfiguredJudges` is custom Python, so the automation sensor runs in the code
server (`use_user_code_server=True`): the daemon would drop these conditions.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from ..config import Config, load_config
from .metadata import md_table
from .partitions import JUDGE_PARTITIONS_NAME, judge_model_partitions

JUDGMENTS = dg.AssetKey("judgments")
AC = dg.AutomationCondition
FAILED_RUN, REMOVED, NEVER, RUNNING, UNPARSED = ("failed run", "removed from config", "never materialized",
                                                  "run in progress", "no parsed judgments")
# Why a configured judge has no parsed judgments on a board, by its judgments partition's status.
STATUS_REASONS = {dg.AssetPartitionStatus.FAILED: FAILED_RUN, dg.AssetPartitionStatus.IN_PROGRESS: RUNNING,
                  dg.AssetPartitionStatus.MATERIALIZED: UNPARSED}


class ConfiguredJudges(dg.AutomationCondition):
    """True for the judge_model partitions of judges in the config, and for any target not partitioned by
    judge."""

    @property
    def name(self) -> str:
        return "configured_judges"

    @property
    def description(self) -> str:
        return "judge partition of a judge the config lists"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        subset = context.candidate_subset
        if getattr(context.partitions_def, "name", None) == JUDGE_PARTITIONS_NAME and not subset.is_empty:
            keys = set(subset.expensively_compute_partition_keys()) & set(load_config().judge_partitions)
            subset = subset.compute_intersection_with_partition_keys(keys)
        return dg.AutomationResult(context, subset)


class RequestedThisTick(dg.AutomationCondition):
    """will_be_requested() without its same-run restriction: a judge partition requested on this tick runs
    apart from an unpartitioned board, which must still wait for it (will_be_requested() is false there)."""

    @property
    def name(self) -> str:
        return "requested_this_tick"

    @property
    def description(self) -> str:
        return "requested on this tick, in any run"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        requested = context.request_subsets_by_key.get(context.key)
        subset = (context.candidate_subset.compute_intersection(requested) if requested is not None
                  else context.get_empty_subset())
        return dg.AutomationResult(context, subset)


def per_judge_eager() -> dg.AutomationCondition:
    """eager() for the configured judges' partitions only."""
    return (ConfiguredJudges() & AC.eager()).with_label("eager (configured judges)")


def eager_over_judges() -> dg.AutomationCondition:
    """eager() for a board over every judge partition: waits for pending judgments, needs only the
    configured judges that did not fail."""
    pending = AC.any_deps_match(
        AC.in_progress() | RequestedThisTick() | AC.any_deps_in_progress()
    ).with_label("judgments pending (in progress, requested, or their inputs in progress)")
    judgments = dg.AssetSelection.assets(JUDGMENTS)
    missing = (
        AC.any_deps_missing().ignore(judgments)
        | AC.any_deps_match(ConfiguredJudges() & AC.missing() & ~AC.execution_failed()).allow(judgments)
    ).with_label("missing input (failed and removed judges excepted)")
    return (
        AC.in_latest_time_window()
        & (AC.newly_missing() | AC.any_deps_updated()).since_last_handled()
        & ~pending & ~missing & ~AC.in_progress()
    ).with_label("eager over judges")


def judge_coverage(instance: dg.DagsterInstance, config: Config, covered: set[str]) -> dict:
    """Metadata for a board built from the judges in `covered`: the judges on it and every judge partition
    left out, with the reason (failed run, removed from config, never materialized, ...)."""
    registered = list(instance.get_dynamic_partitions(JUDGE_PARTITIONS_NAME))
    status = (instance.get_status_by_partition(JUDGMENTS, registered, judge_model_partitions) or {}
              if registered else {})
    configured = set(config.judge_partitions)
    rows, left_out = [], {}
    for judge in dict.fromkeys([*config.judge_partitions, *registered, *sorted(covered)]):
        state = status.get(judge)
        if judge in covered:
            note = ("removed from config: its stored judgments are used" if judge not in configured else
                    "latest run failed: its earlier judgments are used"
                    if state == dg.AssetPartitionStatus.FAILED else "")
            rows.append((judge, "covered", note))
            continue
        reason = REMOVED if judge not in configured else STATUS_REASONS.get(state, NEVER)
        left_out[judge] = reason
        rows.append((judge, "left out", reason))
    table = pd.DataFrame(rows, columns=["judge", "board", "why"])
    return {"judges_covered": dg.MetadataValue.json(sorted(covered)),
            "judges_left_out": dg.MetadataValue.json(left_out),
            "judge_coverage": md_table(table, len(table), empty="no judge partitions")}
