"""Released sparse feedback in its other shapes, through Dagster: the sample CSVs' rows written to Parquet and
to JSON lines import to the same feedback tables as the CSVs (prompts, responses, scores, rankings, order and
upstream's consistency table), and the reward-model pairs JSON becomes an imported judge's rankings that the
rankings reward model trains on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from llmfeedback_assets.warehouse import Warehouse

from ..support.project import SIM_MODELS, dataset
from .test_reward_imported import _materialize

FIELDS = {"ratings": ["instruction", "input", "response", "score"],
          "rankings": ["instruction", "input", "response1", "response2", "ranking"]}
SHAPES = ("csv", "parquet", "jsonl")
JUDGES = {shape: f"sparse-{shape} (imported)" for shape in SHAPES}
RM_JUDGE = "sparse-rm (imported)"
# what must not depend on the file's shape; rating_id/ranking_id and source name the file and line by design
RATING_CONTENT = ["prompt_id", "responder_model", "response_id", "score", "parse_status"]
RANKING_CONTENT = ["prompt_id", "model_1", "model_2", "response_1_id", "response_2_id", "verdict_first",
                   "ranking"]


def _export(csv_path: Path, kind: str, folder: Path) -> dict[str, Path]:
    """The CSV's rows as a typed Parquet file (DuckDB) and as JSON lines (scores as numbers, "nan" inputs
    as null), the way an export of the full data would hold them."""
    rows = list(csv.reader(csv_path.open(encoding="utf-8", newline="")))
    names = FIELDS[kind]
    records = [dict(zip(names, r, strict=True)) for r in rows]
    for rec in records:
        rec["input"] = None if rec["input"] == "nan" else rec["input"]
        if kind == "ratings":
            rec["score"] = int(rec["score"])
    jsonl = folder / f"{kind}.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    parquet = folder / f"{kind}.parquet"
    con = duckdb.connect()
    try:
        types = ", ".join(f'"{n}" {"BIGINT" if n == "score" else "VARCHAR"}' for n in names)
        con.execute(f"CREATE TABLE t ({types})")
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(names))})",
                        [[rec[n] for n in names] for rec in records])
        con.execute(f"COPY t TO '{parquet}' (FORMAT parquet)")
    finally:
        con.close()
    return {"csv": csv_path, "parquet": parquet, "jsonl": jsonl}


def _config(root: Path, judgment_sources: list[dict]) -> Path:
    samples = dataset("sparse_feedback", "alpaca_generation", "sample_generation.json")
    cfg = {"database": str(root / "warehouse.duckdb"), "models": SIM_MODELS, "judges": ["judge-clean"],
           "models_dir": str(root / "models"),
           "answer_sources": [{"path": str(samples), "format": "sparse_feedback"}],
           "judgment_sources": judgment_sources, "judging": {"modes": ["rating", "ranking"]},
           "reward": {"epochs": 2, "mode": "frozen"}, "leaderboard": {"bootstrap_rounds": 0}}
    path = root / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("sparse_shapes")
    folder = dataset("sparse_feedback", "alpaca_generation")
    files = {kind: _export(folder / f"feedback_{kind}_sample_generation.csv", kind, root)
             for kind in ("ratings", "rankings")}
    sources = [{"path": str(files[kind][shape]), "judge": f"sparse-{shape}"}  # format: auto
               for shape in SHAPES for kind in ("ratings", "rankings")]
    path = _config(root, sources)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", ["judge-clean", *JUDGES.values()])
        _materialize(instance, path, ["prompts", "sim_ground_truth", "responses"])
        for judge in JUDGES.values():
            _materialize(instance, path, ["judgments", "feedback_ratings", "feedback_rankings"], judge)
        _materialize(instance, path, ["feedback_consistency"])
        yield Warehouse(root / "warehouse.duckdb")


def test_parquet_and_jsonl_exports_import_as_the_csvs(shapes):
    for table, content, n in (("feedback_ratings", RATING_CONTENT, 99),
                              ("feedback_rankings", RANKING_CONTENT, 118)):
        frames = {s: shapes.table(table, "WHERE judge_model = ?", [j]) for s, j in JUDGES.items()}
        assert len(frames["csv"]) == n
        expected = frames["csv"].sort_values("source", key=_line)[content].reset_index(drop=True)
        for shape in ("parquet", "jsonl"):
            got = frames[shape]
            assert got["source"].str.fullmatch(rf".*{table.split('_')[1]}\.{shape}:\d+").all()
            ordered = got.sort_values("source", key=_line)[content].reset_index(drop=True)
            assert ordered.equals(expected), (table, shape)  # same ids, scores and rankings, row by row
    assert shapes.count("rejected_inputs", "WHERE asset LIKE 'judgments:%'") == 0


def _line(source):
    return source.str.rsplit(":", n=1).str[1].astype(int)


def test_consistency_is_upstreams_table_in_every_shape(shapes):
    order = ["equal", "a", "b"]
    for judge in JUDGES.values():
        table = shapes.table("feedback_consistency", "WHERE judge_model = ?", [judge])
        cells = table.set_index(["implied_by_ratings", "ranking_given"])["n"]
        assert [[int(cells[(i, g)]) for g in order] for i in order] == [[21, 11, 7], [8, 19, 10], [9, 6, 26]]
        assert table["n_pairs"].iloc[0] == 117 and table["rate"].iloc[0] == pytest.approx(66 / 117)


def test_rankings_reward_model_trains_on_the_pairs_json(tmp_path):
    pairs_json = dataset("sparse_feedback", "alpaca_generation", "feedback_rankings_for_rm_sample.json")
    path = _config(tmp_path, [{"path": str(pairs_json), "judge": "sparse-rm"}])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", ["judge-clean", RM_JUDGE])
        _materialize(instance, path, ["prompts", "sim_ground_truth", "responses"])
        _materialize(instance, path, ["judgments", "feedback_ratings", "feedback_rankings"], RM_JUDGE)
        _materialize(instance, path, ["preference_pairs", "rankings_reward_model"])
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    rankings = wh.table("feedback_rankings", "WHERE judge_model = ?", [RM_JUDGE])
    assert len(rankings) == 80 and set(rankings["ranking"]) == {"a"}  # the preferred response first
    assert rankings["source"].str.fullmatch(r".*feedback_rankings_for_rm_sample\.json:\d+").all()
    responses = wh.table("responses").set_index("response_id")
    assert set(responses.loc[rankings["response_1_id"], "responder_model"]) == {"alpaca-7b"}
    assert wh.count("feedback_ratings", "WHERE judge_model = ?", [RM_JUDGE]) == 0
    assert wh.count("llm_journal") == 0  # no model was asked
    pairs = wh.table("preference_pairs", "WHERE judge_model = ?", [RM_JUDGE])
    distinct = rankings.drop_duplicates(["response_1_id", "response_2_id"])
    assert len(pairs) == len(distinct) > 0
    assert set(zip(pairs["chosen_response_id"], pairs["rejected_response_id"], strict=True)) == set(
        zip(distinct["response_1_id"], distinct["response_2_id"], strict=True))
    assert wh.count("preference_pairs") == len(pairs)  # nothing else to train on in this run
    model = wh.table("reward_models").set_index("name").loc["rankings_reward_model"]
    assert model["n_train"] == (pairs["split"] == "train").sum() > 0
