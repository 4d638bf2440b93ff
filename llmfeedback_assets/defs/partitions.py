"""Partitions: judgments and every per-judge asset are partitioned by judge model, so adding a judge is a
backfill of one new partition; selections are partitioned by strategy."""

import dagster as dg

JUDGE_PARTITIONS_NAME = "judge_model"
judge_model_partitions = dg.DynamicPartitionsDefinition(name=JUDGE_PARTITIONS_NAME)


def judge_partition_changes(existing: list[str], judges: list[str]) -> tuple[list[str], list[str]]:
    """(judges to add, partitions no longer configured). Removed judges' partitions are kept: their data
    stays readable."""
    have = set(existing)
    return [j for j in judges if j not in have], sorted(have - set(judges))


def sync_judge_partitions(instance: dg.DagsterInstance, judges: list[str]) -> tuple[list[str], list[str]]:
    """Register the configured judges in the instance; return (added, no longer configured)."""
    added, stale = judge_partition_changes(instance.get_dynamic_partitions(JUDGE_PARTITIONS_NAME), judges)
    if added:
        instance.add_dynamic_partitions(JUDGE_PARTITIONS_NAME, added)
    return added, stale
