"""The warehouse keeps bad frames out and survives concurrent writers."""

from __future__ import annotations

import multiprocessing as mp

import pandas as pd
import pytest

from llmfeedback_assets.warehouse import TABLES, Warehouse, WarehouseDataError, columns, table


def _prompts(ids):
    return pd.DataFrame({"prompt_id": ids, "source_file": "f", "source_id": "1", "category": "c",
                         "turns": [["q"]] * len(ids), "reference": [[]] * len(ids), "n_turns": 1})


def test_columns_are_written_by_name_not_position(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    frame = _prompts(["a", "b"])[list(reversed(columns("prompts")))]  # reordered columns
    wh.replace_table("prompts", frame)
    back = wh.table("prompts")
    assert back["prompt_id"].tolist() == ["a", "b"] and back["category"].tolist() == ["c", "c"]


@pytest.mark.parametrize(("ids", "message"), [(["a", "a"], "duplicate key"), (["a", None], "without a key")])
def test_bad_keys_are_rejected_and_nothing_is_written(tmp_path, ids, message):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_table("prompts", _prompts(["keep"]))
    with pytest.raises(WarehouseDataError, match=message):
        wh.replace_table("prompts", _prompts(ids))
    assert wh.table("prompts")["prompt_id"].tolist() == ["keep"]
    with pytest.raises(WarehouseDataError, match="lacks column"):
        wh.append("prompts", _prompts(["x"]).drop(columns=["category"]))


@pytest.mark.parametrize(("column", "value", "message"), [
    ("n_turns", "two", "n_turns: 1 value\\(s\\) not INTEGER"),
    ("source_file", 7, "source_file: 1 value\\(s\\) not VARCHAR"),
    ("turns", "q", "turns: 1 value\\(s\\) not VARCHAR"),
])
def test_values_of_the_wrong_type_are_rejected_naming_the_column(tmp_path, column, value, message):
    wh = Warehouse(tmp_path / "w.duckdb")
    frame = _prompts(["a", "b"]).astype({column: object})
    frame.at[1, column] = value
    with pytest.raises(WarehouseDataError, match=message) as err:
        wh.replace_table("prompts", frame)
    assert "nothing was written" in str(err.value) and repr(value)[:10] in str(err.value)
    assert wh.count("prompts") == 0


def test_nulls_and_typed_columns_pass_and_keep_their_values(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    frame = _prompts(["a", "b"])
    frame["category"] = None  # an all-null column has no type to check
    frame["n_turns"] = [1.0, float("nan")]  # an INTEGER column with a missing value arrives as float
    wh.replace_table("prompts", frame)
    back = wh.table("prompts")
    assert back["category"].isna().all() and back["n_turns"].iloc[0] == 1 and pd.isna(back["n_turns"].iloc[1])


def test_every_table_is_declared_once_with_a_description_per_column(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.ensure_schema()
    for name, declared in TABLES.items():
        assert declared.description and all(c.description for c in declared.columns), name
        with wh.connect(read_only=True) as con:
            described = [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
        assert described == declared.sql_columns(), name
    assert table("judgments").partition == "judge_model" and table("judgments").key == "judgment_id"
    with pytest.raises(KeyError, match="declare it in warehouse/tables"):
        table("no_such_table")


def _writer(path, worker, n):
    wh = Warehouse(path)
    for i in range(n):
        wh.append("rejected_inputs", pd.DataFrame([{"source_file": f"w{worker}", "line": i, "reason": "r",
                                                     "raw": "", "asset": "t", "rejected_at": None}]))


def test_concurrent_processes_never_fail_on_the_lock(tmp_path):
    path = tmp_path / "w.duckdb"
    Warehouse(path).ensure_schema()
    procs = [mp.get_context("spawn").Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert Warehouse(path).count("rejected_inputs") == 100
