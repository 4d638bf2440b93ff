"""Judgments are partitioned per judge model: adding a judge is a backfill of one new partition."""

import dagster as dg

JUDGE_PARTITIONS_NAME = "judge_model"
judge_model_partitions = dg.DynamicPartitionsDefinition(name=JUDGE_PARTITIONS_NAME)


def sync_judge_partitions(instance: dg.DagsterInstance, judges: list[str]) -> tuple[list[str], list[str]]:
    """Register configured judges; return (added, no longer configured). Removed judges are kept."""
    existing = set(instance.get_dynamic_partitions(JUDGE_PARTITIONS_NAME))
    added = [j for j in judges if j not in existing]
    if added:
        instance.add_dynamic_partitions(JUDGE_PARTITIONS_NAME, added)
    stale = sorted(existing - set(judges))
    return added, stale
