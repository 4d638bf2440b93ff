"""The warehouse keeps bad frames out and survives concurrent writers."""

from __future__ import annotations

import multiprocessing as mp

import pandas as pd
import pytest

from llmfeedback_assets.warehouse import Warehouse, WarehouseDataError, columns


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
