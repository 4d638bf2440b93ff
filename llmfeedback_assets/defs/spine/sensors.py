"""Sensors and the schedule: llmfeedback runs itself the way a Dagster user expects.

- `new_prompt_files_sensor` ingests each new or changed file in the incoming folder (content hash as run
  key, a cursor that survives restarts); judgments and leaderboards follow through declarative automation,
  and the gateway's journal makes the follow-up runs pay only for the new prompts.
- `judge_models_sensor` keeps the judge_model partitions equal to the config; the automation runs a new
  judge's per-judge assets.
- `nightly_judging` reruns, per configured judge, every per-judge asset that never materialized or whose
  inputs changed.

All three start running: a file dropped in the incoming folder is picked up without a visit to the UI.
"""

import json

import dagster as dg

from ...ids import file_hash
from ...ingest import display_path, incoming_files, read_prompt_file
from ..partitions import JUDGE_PARTITIONS_NAME, judge_model_partitions, judge_partition_changes
from ..resources import LLMFeedbackResource
from .jobs import PER_JUDGE_ASSETS, ingest_and_respond, refresh_judge_partitions


@dg.sensor(job=ingest_and_respond, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches the incoming folder (config `incoming_dir`); each new or changed file "
                       "triggers ingestion and responses. Files that fail to parse are reported in the tick "
                       "and land in `rejected_inputs`; they never block other files.")
def new_prompt_files_sensor(context: dg.SensorEvaluationContext, llmfeedback: LLMFeedbackResource):
    config = llmfeedback.load()
    folder = config.resolve(config.incoming_dir)
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    if not folder.is_dir():
        return dg.SkipReason(f"incoming folder {folder} does not exist")
    runs = []
    for path in incoming_files(folder):
        name = display_path(path.relative_to(folder).as_posix())
        if not path.is_file():  # a broken link: the prompts asset records it as rejected
            continue
        digest = file_hash(path)
        if seen.get(name) == digest:
            continue
        seen[name] = digest
        records, rejected = read_prompt_file(path, max_prompt_chars=config.max_prompt_chars)
        if rejected:
            first = rejected[0]
            context.log.warning(f"{name}: {len(records)} prompt(s), {len(rejected)} rejected line(s) "
                                f"(line {first.line}: {first.reason})")
        runs.append(dg.RunRequest(run_key=f"{name}:{digest}", tags={"llmfeedback/incoming_file": name}))
    cursor = json.dumps(seen, sort_keys=True)
    if not runs:
        return dg.SensorResult(skip_reason="no new or changed files", cursor=cursor)
    return dg.SensorResult(run_requests=runs, cursor=cursor)


# It launches nothing: the declarative automation runs every per-judge asset of a new partition, in one run
# per judge. A `judge_everything` run from here as well launched each new judge twice (a judge without its
# key failed twice) and split its assets over several runs, so the boards waited a tick or two longer.
@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Keeps the judge_model partitions equal to the config's judges: adds new judges (the "
                       "declarative automation then runs every per-judge asset for each); a removed judge's "
                       "partition is kept (its data stays) and reported.")
def judge_models_sensor(context: dg.SensorEvaluationContext, llmfeedback: LLMFeedbackResource):
    judges = llmfeedback.load().judge_partitions
    added, stale = judge_partition_changes(
        context.instance.get_dynamic_partitions(JUDGE_PARTITIONS_NAME), judges)
    note = (f"added judge partitions {added}: the automation runs their per-judge assets" if added
            else "judge partitions match the config")
    if stale:
        note += f"; kept partitions of judges no longer configured: {stale}"
    context.log.info(note)
    return dg.SensorResult(
        dynamic_partitions_requests=[judge_model_partitions.build_add_request(added)] if added else [],
        skip_reason=note,  # a tick without runs is "skipped"; its reason says what it did
    )


def stale_per_judge(instance: dg.DagsterInstance, asset_graph, judges: list[str]) -> dict[str, list[str]]:
    """Per judge, the per-judge assets to rerun: never materialized, materialized before one of their
    inputs, or downstream of one rerun in the same run. An asset whose input outside these assets never
    materialized (e.g. quality_scores before curation_examples) cannot run and is left out."""
    keys = {dg.AssetKey(k) for k in PER_JUDGE_ASSETS}
    order = [k for k in asset_graph.toposorted_asset_keys if k in keys]
    done = {k: instance.get_latest_storage_id_by_partition(k, dg.DagsterEventType.ASSET_MATERIALIZATION)
            for k in order}
    newest: dict[dg.AssetKey, int | None] = {}
    for key in order:
        for parent in asset_graph.get(key).parent_keys - keys:
            records = instance.fetch_materializations(parent, limit=1).records
            newest[parent] = records[0].storage_id if records else None
    stale: dict[str, list[dg.AssetKey]] = {j: [] for j in judges}
    for key in order:
        parents = asset_graph.get(key).parent_keys
        for judge in judges:
            rerun = [p for p in parents if p in stale[judge]]  # run before this asset in the same run
            stamps = [done[p].get(judge) if p in keys else newest[p] for p in parents if p not in rerun]
            if None in stamps:  # an input that never materialized and is not rerun: it cannot run yet
                continue
            own = done[key].get(judge)
            if own is None or rerun or any(s > own for s in stamps):
                stale[judge].append(key)
    return {j: [k.to_user_string() for k in ks] for j, ks in stale.items() if ks}


@dg.schedule(cron_schedule="0 2 * * *", job=refresh_judge_partitions, execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Nightly: per configured judge, rerun every per-judge asset (judgments, quality "
                         "scores, curated scores, feedback ratings and rankings, conversation judgments) "
                         "whose inputs changed or that never materialized. Leaderboards and agreement follow "
                         "by declarative automation.")
def nightly_judging(context: dg.ScheduleEvaluationContext, llmfeedback: LLMFeedbackResource):
    registered = set(context.instance.get_dynamic_partitions(JUDGE_PARTITIONS_NAME))
    judges = [j for j in llmfeedback.load().judge_partitions if j in registered]  # never a removed judge
    stale = stale_per_judge(context.instance, context.repository_def.asset_graph, judges)
    if not stale:
        return dg.SkipReason("every per-judge asset of every configured judge is up to date")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [dg.RunRequest(partition_key=j, run_key=f"nightly-{day}-{j}",
                          asset_selection=[dg.AssetKey(k) for k in keys]) for j, keys in stale.items()]


spine_sensors = [new_prompt_files_sensor, judge_models_sensor]
spine_schedules = [nightly_judging]
