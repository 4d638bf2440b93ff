"""Readers for LLMFAO-style CSVs and MT-bench judgment files, including malformed rows."""

from __future__ import annotations

import json

import pytest

from llmfeedback_assets.ranking import (
    RankingWarning,
    SourceFormatError,
    leaderboard_table,
    position_consistency,
    read_llmfao_comparisons,
    read_mtbench_judgments,
)
from llmfeedback_assets.ranking.sources import LLMFAO_COLUMNS, MTBENCH_COLUMNS

MODELS = [{"id": 7, "name": "Alpha"}, {"id": 9, "name": "Beta"}, {"id": 11, "name": "Gamma"}]


def write_models(path):
    path.write_text("".join(json.dumps(m) + "\n" for m in MODELS))
    return path


def test_llmfao_ids_resolved_with_models_file(tmp_path):
    csv = tmp_path / "votes.csv"
    csv.write_text(
        "id,prompt,model_x,model_y,worker,winner\n0,3,7,9,w1,left\n1,3,9,11,w2,tie\n2,4,11,7,w1,left\n"
    )
    models = write_models(tmp_path / "names.jsonl")
    df = read_llmfao_comparisons(csv, models)
    assert list(df.columns) == LLMFAO_COLUMNS
    assert df[["model_a", "model_b", "winner"]].values.tolist() == [
        ["Alpha", "Beta", "model_a"],
        ["Beta", "Gamma", "tie"],
        ["Gamma", "Alpha", "model_a"],
    ]
    assert df["prompt_id"].tolist() == ["3", "3", "4"] and df["worker"].tolist() == ["w1", "w2", "w1"]
    assert (df["source"] == "votes.csv").all()
    board = leaderboard_table(df, rounds=20)
    assert set(board["model"]) == {"Alpha", "Beta", "Gamma"}


def test_llmfao_name_columns_and_sibling_models_file(tmp_path):
    named = tmp_path / "named.csv"
    named.write_text("model_x,model_y,winner,left,right\n1,2,right,Alpha,Beta\n")
    df = read_llmfao_comparisons(named)
    assert df.loc[0, "model_a"] == "Alpha" and df.loc[0, "winner"] == "model_b"
    assert df["worker"].isna().all() and df["prompt_id"].isna().all()
    sub = tmp_path / "sub"
    sub.mkdir()
    write_models(sub / "models.jsonl")
    (sub / "ids.csv").write_text("model_x,model_y,winner\n7,11,tie\n")
    assert read_llmfao_comparisons(sub / "ids.csv").loc[0, ["model_a", "model_b"]].tolist() == [
        "Alpha",
        "Gamma",
    ]
    plain = tmp_path / "plain.csv"
    plain.write_text("model_x,model_y,winner\nfoo,bar,LEFT\n")
    assert read_llmfao_comparisons(plain).loc[0, ["model_a", "winner"]].tolist() == ["foo", "model_a"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("model_x,model_y,winner\n7,9,left\n7,9,maybe\n", r"votes.csv:3: unknown winner 'maybe'"),
        ("model_x,model_y,winner\n7,9,left\n7,,tie\n", r"votes.csv:3: empty model_x or model_y"),
        ("model_x,model_y,winner\n7,9,left\n7,42,tie\n", r"votes.csv:3: model id '42' is not in"),
        ("model_x,model_y,winner\n7,7,left\n", r"votes.csv:2: model 'Alpha' is compared with itself"),
        (
            "model_x,model_y,winner,left,right\n7,9,left,Alpha,Zeta\n",
            r"votes.csv:2: ids resolve to 'Alpha' / 'Beta'",
        ),
        ("model_x,winner\n7,left\n", r"votes.csv: missing columns \['model_y'\]"),
        ("model_x,model_y,winner\n", r"votes.csv: no comparison rows"),
    ],
)
def test_llmfao_malformed_rows_name_file_and_line(tmp_path, body, message):
    csv = tmp_path / "votes.csv"
    csv.write_text(body)
    with pytest.raises(SourceFormatError, match=message):
        read_llmfao_comparisons(csv, write_models(tmp_path / "models.jsonl"))


def fastchat_record(qid, m1, m2, g1, g2, turn=1):
    return {
        "question_id": qid,
        "model_1": m1,
        "model_2": m2,
        "g1_winner": g1,
        "g2_winner": g2,
        "judge": ["gpt-4", "pair-v2" if turn == 1 else "pair-v2-multi-turn"],
        "turn": turn,
        "g1_judgment": "...",
        "g2_judgment": "...",
        "tstamp": 0.0,
    }


def test_fastchat_pairwise_jsonl(tmp_path):
    path = tmp_path / "gpt-4_pair.jsonl"
    records = [
        fastchat_record(81, "vicuna", "llama", "model_1", "model_1"),
        fastchat_record(81, "vicuna", "llama", "model_1", "model_2", turn=2),  # swaps disagree: a tie
        fastchat_record(82, "vicuna", "llama", "tie", "tie"),
        fastchat_record(83, "vicuna", "llama", "error", "model_1"),
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    with pytest.warns(RankingWarning, match="dropped 1 judgments"):
        df = read_mtbench_judgments(path)
    assert list(df.columns) == MTBENCH_COLUMNS
    assert df["winner"].tolist() == ["model_a", "tie", "tie"]
    assert df["turn"].tolist() == [1, 2, 1] and df["prompt_id"].tolist() == ["81", "81", "82"]
    assert (df["judge"] == "gpt-4").all() and df.attrs["dropped_errors"] == 1
    pc = position_consistency(df)
    assert pc.loc[0, "n_pairs"] == 3 and pc.loc[0, "consistency"] == pytest.approx(2 / 3)
    assert pc.loc[0, "prefers_first"] == pytest.approx(1 / 3)


def test_human_judgments_json_array_and_splits(tmp_path):
    human = [
        {
            "question_id": 81,
            "model_a": "vicuna",
            "model_b": "llama",
            "winner": "tie (bothbad)",
            "judge": "expert_3",
            "turn": 1,
        },
        {
            "question_id": 81,
            "model_a": "llama",
            "model_b": "vicuna",
            "winner": "model_b",
            "judge": "author_1",
            "turn": 2,
        },
    ]
    arr = tmp_path / "human.json"
    arr.write_text(json.dumps(human))
    df = read_mtbench_judgments(arr)
    assert df["winner"].tolist() == ["tie", "model_b"] and df["verdict_ab"].isna().all()
    splits = tmp_path / "splits.json"
    splits.write_text(
        json.dumps(
            {"human": human, "gpt4_pair": [dict(human[0], judge=["gpt-4", "pair-v2"], winner="model_a")]}
        )
    )
    both = read_mtbench_judgments(splits)
    assert both["judge"].tolist() == ["expert_3", "author_1", "gpt-4"]


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"question_id": 1, "model_1": "a", "model_2": "b", "g1_winner": "model_1", "g2_winner": "A", '
            '"judge": "j"}',
            r"j.jsonl:1: g2_winner 'A' is not",
        ),
        (
            '{"question_id": 1, "model_a": "a", "model_b": "b", "winner": "model_a", "judge": "h"}\n'
            '{not json',
            r"j.jsonl:2: invalid JSON",
        ),
        (
            '{"question_id": 1, "model_a": "a", "model_b": "b", "judge": "h"}',
            r"j.jsonl:1: missing field\(s\) \['winner'\]",
        ),
        (
            '{"question_id": 1, "model_a": "a", "model_b": "a", "winner": "tie", "judge": "h"}',
            r"compared with itself",
        ),
        (
            '{"question_id": 1, "model_a": "a", "model_b": "b", "winner": "tie", "judge": "h", "turn": "x"}',
            r"j.jsonl:1: field 'turn'",
        ),
        ("[1, 2]", r"j.jsonl: record 0: expected a JSON object"),
    ],
)
def test_mtbench_malformed_records(tmp_path, content, message):
    path = tmp_path / "j.jsonl"
    path.write_text(content)
    with pytest.raises(SourceFormatError, match=message):
        read_mtbench_judgments(path)


def test_mtbench_all_errors_is_an_error(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps(fastchat_record(1, "a", "b", "error", "error")))
    with pytest.raises(SourceFormatError, match="no usable judgments"):
        read_mtbench_judgments(path)
