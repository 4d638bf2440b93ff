"""Sensors, schedules and jobs: llmfeedback runs itself the way a Dagster user expects.

- `new_prompt_files_sensor` ingests each new or changed file in the incoming folder (content hash as run
  key, a cursor that survives restarts); judgments and leaderboards follow through declarative automation,
  and the gateway's journal makes the follow-up runs pay only for the new prompts.
- `judge_models_sensor` keeps the judge_model partitions equal to the config.
- `nightly_judging` backfills every judge partition that never materialized or whose inputs changed.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from ..config import load_config
from ..ingest import read_prompt_file
from .partitions import JUDGE_PARTITIONS_NAME, judge_model_partitions

judge_everything = dg.define_asset_job(
    "judge_everything", selection=dg.AssetSelection.keys("judgments"), partitions_def=judge_model_partitions,
    description="Judge every response with one judge model (one run per judge_model partition).",
)
ingest_and_respond = dg.define_asset_job(
    "ingest_and_respond", selection=dg.AssetSelection.keys("prompts", "sim_ground_truth", "responses"),
    description="Ingest prompt sources and answer new prompts with every responder.",
)
refresh_analysis = dg.define_asset_job(
    "refresh_analysis", selection=dg.AssetSelection.groups("analysis"),
    description="Recompute leaderboards and judge analysis from the stored judgments.",
)

curate_and_select = dg.define_asset_job(
    "curate_and_select", selection=dg.AssetSelection.keys("quality_scores", "curated_scores"),
    partitions_def=judge_model_partitions,
    description="Quality-score and curate one judge's scores (one run per judge_model partition); then "
                "`select_training_data` picks the subsets.",
)
select_training_data = dg.define_asset_job(
    "select_training_data", selection=dg.AssetSelection.keys("selected_dataset"),
    description="Select a training subset per strategy (one run per strategy partition) from curated scores.",
)
train_reward_models = dg.define_asset_job(
    "train_reward_models",
    selection=dg.AssetSelection.keys("preference_pairs", "ratings_reward_model", "rankings_reward_model",
                                     "bestofn_samples", "reranked_responses", "rm_win_rate"),
    description="Build preference pairs from stored feedback, train both reward models on the gpu pool, "
                "rerank best-of-n samples and measure win rates.",
)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@dg.sensor(job=ingest_and_respond, minimum_interval_seconds=30,
           description="Watches the incoming folder (config `incoming_dir`); each new or changed file triggers "
                       "ingestion and responses. Files that fail to parse are reported in the tick and land in "
                       "`rejected_inputs`; they never block other files.")
def new_prompt_files_sensor(context: dg.SensorEvaluationContext):
    config = load_config()
    folder = config.resolve(config.incoming_dir)
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    if not folder.is_dir():
        return dg.SkipReason(f"incoming folder {folder} does not exist")
    runs, notes = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        digest = file_digest(path)
        if seen.get(path.name) == digest:
            continue
        seen[path.name] = digest
        records, rejected = read_prompt_file(path)
        if rejected:
            first = rejected[0]
            notes.append(f"{path.name}: {len(records)} prompt(s), {len(rejected)} rejected line(s) "
                         f"(line {first.line}: {first.reason})")
            context.log.warning(notes[-1])
        runs.append(dg.RunRequest(run_key=f"{path.name}:{digest}", tags={"llmfeedback/incoming_file": path.name}))
    cursor = json.dumps(seen, sort_keys=True)
    if not runs:
        return dg.SensorResult(skip_reason="no new or changed files", cursor=cursor)
    return dg.SensorResult(run_requests=runs, cursor=cursor)


@dg.sensor(minimum_interval_seconds=60, job=judge_everything, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Keeps the judge_model partitions equal to the config's judges: adds new judges and "
                       "requests a run for each; a removed judge's partition is kept (its data stays) and reported.")
def judge_models_sensor(context: dg.SensorEvaluationContext):
    judges = load_config().judge_partitions
    existing = set(context.instance.get_dynamic_partitions(JUDGE_PARTITIONS_NAME))
    added = [j for j in judges if j not in existing]
    stale = sorted(existing - set(judges))
    note = f"added judge partitions {added}" if added else "judge partitions match the config"
    if stale:
        note += f"; kept partitions of judges no longer configured: {stale}"
    context.log.info(note)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=j, run_key=f"judge-added-{j}") for j in added],
        dynamic_partitions_requests=[judge_model_partitions.build_add_request(added)] if added else [],
        skip_reason=None if added else note,
    )


def stale_judge_partitions(instance: dg.DagsterInstance, judges: list[str]) -> list[str]:
    """Judges whose partition never materialized, or materialized before the latest responses."""
    done = instance.get_latest_storage_id_by_partition(
        dg.AssetKey("judgments"), dg.DagsterEventType.ASSET_MATERIALIZATION)
    latest = instance.fetch_materializations(dg.AssetKey("responses"), limit=1).records
    inputs_at = latest[0].storage_id if latest else -1
    return [j for j in judges if j not in done or done[j] < inputs_at]


@dg.schedule(cron_schedule="0 2 * * *", job=judge_everything, execution_timezone="UTC",
             description="Nightly: backfill every judge partition whose inputs changed or that never "
                         "materialized. Leaderboards and agreement follow by declarative automation.")
def nightly_judging(context: dg.ScheduleEvaluationContext):
    judges = load_config().judge_partitions
    stale = stale_judge_partitions(context.instance, judges)
    if not stale:
        return dg.SkipReason("every judge partition is up to date")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [dg.RunRequest(partition_key=j, run_key=f"nightly-{day}-{j}") for j in stale]


automation_sensor = dg.AutomationConditionSensorDefinition(
    "llmfeedback_automation", target=dg.AssetSelection.all(), minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)

jobs = [judge_everything, ingest_and_respond, refresh_analysis, curate_and_select,
        select_training_data, train_reward_models]
sensors = [new_prompt_files_sensor, judge_models_sensor, automation_sensor]
schedules = [nightly_judging]
