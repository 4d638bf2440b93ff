"""A table keyed by two columns (the embedding store's (backbone, text_hash)): duplicate or partial keys are
refused before any write, and INSERT OR IGNORE keeps the first row of a key."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets.warehouse import Warehouse, WarehouseDataError, table


def _rows(backbones, hashes, value: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"backbone": backbones, "text_hash": hashes, "dim": 2,
                         "vector": [np.full(2, value, dtype=np.float32) for _ in hashes],
                         "created_at": pd.Timestamp("2025-01-01")})


def test_declared_with_a_two_column_primary_key():
    t = table("embedding_store")
    assert t.key_columns == ("backbone", "text_hash")
    assert t.ddl().endswith(', PRIMARY KEY ("backbone", "text_hash"))')


def test_same_hash_under_two_backbones_is_two_rows_and_reinserts_are_ignored(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.insert_new("embedding_store", _rows(["a", "b"], ["h", "h"]))
    wh.insert_new("embedding_store", _rows(["a", "c"], ["h", "h"], value=2.0))  # (a, h) is already there
    got = wh.query("SELECT backbone, vector FROM embedding_store ORDER BY backbone")
    assert got["backbone"].tolist() == ["a", "b", "c"]
    assert [float(v[0]) for v in got["vector"]] == [1.0, 1.0, 2.0]


@pytest.mark.parametrize(("backbones", "hashes", "message"), [
    (["a", "a"], ["h", "h"], "duplicate key"), (["a", None], ["h", "k"], "backbone: 1 row(s) without a key")])
def test_bad_keys_are_refused_and_nothing_is_written(tmp_path, backbones, hashes, message):
    wh = Warehouse(tmp_path / "w.duckdb")
    pattern = rf"embedding_store: .*{re.escape(message)}.*nothing was written"
    with pytest.raises(WarehouseDataError, match=pattern):
        wh.insert_new("embedding_store", _rows(backbones, hashes))
    assert wh.count("embedding_store") == 0
