"""Sensors, schedules and jobs."""


import dagster as dg

from ..config import load_config
from .partitions import JUDGE_PARTITIONS_NAME, judge_model_partitions, sync_judge_partitions

judge_everything = dg.define_asset_job(
    "judge_everything", selection=dg.AssetSelection.keys("judgments"), partitions_def=judge_model_partitions,
    description="Judge every response with one judge model (one run per judge_model partition).",
)


@dg.sensor(minimum_interval_seconds=60, job=judge_everything, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Keeps the judge_model partitions equal to the config's judges: adds new judges and "
                       "requests a run for each; a removed judge's partition is kept (its data stays) and reported.")
def judge_models_sensor(context: dg.SensorEvaluationContext):
    judges = load_config().judges
    existing = set(context.instance.get_dynamic_partitions(JUDGE_PARTITIONS_NAME))
    added = [j for j in judges if j not in existing]
    stale = sorted(existing - set(judges))
    runs = [dg.RunRequest(partition_key=j, run_key=f"judge-added-{j}") for j in added]
    note = f"added {added}" if added else "judge partitions match the config"
    if stale:
        note += f"; kept partitions of judges no longer configured: {stale}"
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[judge_model_partitions.build_add_request(added)] if added else [],
        skip_reason=None if added else note,
    )


jobs = [judge_everything]
sensors = [judge_models_sensor]
schedules: list = []
__all__ = ["jobs", "schedules", "sensors", "sync_judge_partitions"]
