"""sparse_feedback judgments beyond the released CSVs: the reward-model pairs JSON (real file, read in place)
and a JSON lines / Parquet export with the CSVs' columns by name, read to the same rows as the CSV; every
bad record names its file, line (row, pair) and field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from llmfeedback_assets.ingest import JudgmentSourceError, prompt_id, read_answers, read_judgments
from llmfeedback_assets.ingest.sparse_feedback import split_prompt
from llmfeedback_assets_tests.support.project import dataset, write_jsonl

RATINGS = ["instruction", "input", "response", "score"]
RANKINGS = ["instruction", "input", "response1", "response2", "ranking"]
# what read_judgments derives from the file's content; source_file, line and format say where it came from
CONTENT = ["judge", "mode", "question_id", "score", "winner", "verdict_ab", "recorded_score",
           "recorded_winner", "prompt_name", "text_a", "text_b"]
TEMPLATE = ("Below is an instruction that describes a task, paired with an input that provides further "
            "context. Write a response that appropriately completes the request.\n\n### Instruction:\n{}\n\n"
            "### Input:\n{}\n\n### Response: ")


def write_csv(path: Path, rows: list[list]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_parquet(path: Path, header: list[str], rows: list[list], types: dict | None = None) -> Path:
    """A Parquet file with these columns (VARCHAR unless typed) and rows, in order, written by DuckDB."""
    types = types or {}
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (" + ", ".join(f'"{c}" {types.get(c, "VARCHAR")}' for c in header) + ")")
        if rows:
            con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(header))})", rows)
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    finally:
        con.close()
    return path


# -- the reward-model pairs JSON ------------------------------------------------------------------------


def test_real_pairs_json_is_the_oriented_non_equal_rankings_of_the_csv():
    folder = dataset("sparse_feedback/alpaca_generation")
    pairs = read_judgments(folder / "feedback_rankings_for_rm_sample.json")
    raw = json.loads((folder / "feedback_rankings_for_rm_sample.json").read_text(encoding="utf-8"))
    assert len(pairs) == sum(len(v["sentences"]) for v in raw.values()) == 80
    assert set(pairs["format"]) == {"sparse_feedback"} and set(pairs["mode"]) == {"pairwise"}
    assert set(pairs["winner"]) == {"model_a"} == set(pairs["recorded_winner"])
    assert set(pairs["verdict_ab"]) == {"A"} and pairs["raw"].isna().all()  # the file records no reply
    assert list(pairs["line"]) == list(range(1, 81))  # the pairs, numbered in file order
    # the prompt keys hold the same instruction and input as the generations: same prompt ids and texts
    answers = read_answers(folder / "sample_generation.json")
    texts = set(zip(answers["question_id"], answers["text"], strict=True))
    for side in ("text_a", "text_b"):
        assert all(p in texts for p in zip(pairs["question_id"], pairs[side], strict=True))
    rankings = read_judgments(folder / "feedback_rankings_sample_generation.csv")
    decided = rankings[rankings["winner"] != "tie"]
    oriented = {(q, a, b) if w == "model_a" else (q, b, a) for q, a, b, w in
                decided[["question_id", "text_a", "text_b", "winner"]].itertuples(index=False)}
    assert set(zip(pairs["question_id"], pairs["text_a"], pairs["text_b"], strict=True)) == oriented
    assert read_judgments(folder / "feedback_rankings_for_rm_sample.json", "sparse_feedback").equals(pairs)


def test_alpaca_prompt_keys_split_into_instruction_and_input(tmp_path):
    assert split_prompt(TEMPLATE.format("Sum\n\nthese.", "1, 2\n\n3")) == ("Sum\n\nthese.", "1, 2\n\n3")
    no_input = ("Below is an instruction that describes a task. Write a response that appropriately "
                "completes the request.\n\n### Instruction:\nName a colour.\n\n### Response:")
    assert split_prompt(no_input) == ("Name a colour.", None)
    assert split_prompt("A plain instruction.") == ("A plain instruction.", None)
    path = tmp_path / "rm.json"
    path.write_text(json.dumps({TEMPLATE.format("Sum.", "1, 2"): {"sentences": [["3", "4"], ["3", "12"]]},
                                no_input: {"sentences": [["red", "seven"]]}}), encoding="utf-8")
    df = read_judgments(path)
    assert list(df["question_id"]) == [prompt_id(["Sum.\n\n1, 2"])] * 2 + [prompt_id(["Name a colour."])]
    assert list(df["text_a"]) == ["3", "3", "red"] and list(df["text_b"]) == ["4", "12", "seven"]
    assert list(df["line"]) == [1, 2, 3]


@pytest.mark.parametrize("entry, pattern", [
    ({"sentence": []}, r"prompt 2 \('Q2'\.\.\.\): expected an object with a 'sentences' list"),
    ({"sentences": [["a", "b"], ["a"]]},
     r"prompt 2 \('Q2'\.\.\.\): field 'sentences\[1\]' must be \[preferred"),
    ({"sentences": [["a", 3]]}, r"prompt 2 \('Q2'\.\.\.\): field 'sentences\[0\]\[1\]' must be a string"),
])
def test_pairs_json_errors_name_file_prompt_and_field(tmp_path, entry, pattern):
    path = tmp_path / "rm.json"
    path.write_text(json.dumps({"Q1": {"sentences": [["x", "y"]]}, "Q2": entry}), encoding="utf-8")
    with pytest.raises(JudgmentSourceError, match=r"rm\.json: " + pattern):
        read_judgments(path)


# -- an export with the columns by name -----------------------------------------------------------------

RATING_ROWS = [["Write\ntwo lines.", "nan", "one\r\ntwo", "6"], ["Sum.", "1, 2", "3", "2"],
               ["Sum.", "1, 2", "3", "5"]]  # a response rated twice: both rows kept
RANKING_ROWS = [["Write\ntwo lines.", "nan", "one\ntwo", "uno\ndos", "(b)"],
                ["Sum.", "1, 2", "3", "4", "equal"], ["Sum.", "1, 2", "4", "3", "(a)"]]


def _content(df):
    return df[CONTENT].reset_index(drop=True)


def test_jsonl_and_parquet_exports_read_as_the_csv(tmp_path):
    for header, rows, name in ((RATINGS, RATING_ROWS, "ratings"), (RANKINGS, RANKING_ROWS, "rankings")):
        from_csv = read_judgments(write_csv(tmp_path / f"{name}.csv", rows))
        # JSON lines as an export writes them: scores as numbers, an empty input as null or left out
        records = [dict(zip(header, r, strict=True)) for r in rows]
        if name == "ratings":
            for rec in records:
                rec["score"] = int(rec["score"])
            records[0]["input"] = None
        else:
            del records[0]["input"]
        from_jsonl = read_judgments(write_jsonl(tmp_path / f"{name}.jsonl", records))
        typed = {"score": "BIGINT"} if name == "ratings" else {}
        parquet_rows = [[*r[:-1], int(r[-1])] if name == "ratings" else r for r in rows]
        parquet = write_parquet(tmp_path / f"{name}.parquet", header, parquet_rows, typed)
        from_parquet = read_judgments(parquet)
        assert len(from_csv) == 3 and _content(from_jsonl).equals(_content(from_csv))
        assert _content(from_parquet).equals(_content(from_csv))
        assert list(from_parquet["line"]) == [1, 2, 3] and list(from_jsonl["line"]) == [1, 2, 3]
        assert set(from_parquet["format"]) == set(from_jsonl["format"]) == {"sparse_feedback"}
    assert read_judgments(tmp_path / "ratings.parquet")["text_a"][0] == "one\ntwo"  # CRLF as the LF it was


def test_a_folder_reads_parquet_beside_csv(tmp_path):
    write_csv(tmp_path / "a.csv", RATING_ROWS)
    write_parquet(tmp_path / "b.parquet", RANKINGS, RANKING_ROWS)
    df = read_judgments(tmp_path)
    assert list(df["mode"]) == ["single"] * 3 + ["pairwise"] * 3
    assert [Path(p).name for p in df["source_file"]] == ["a.csv"] * 3 + ["b.parquet"] * 3


@pytest.mark.parametrize("records, pattern", [
    ([["Q", None, "r", 6], ["Q", None, "r", 9]], r"r\.jsonl:2: field 'score' must be a number from 1 to 7, "
                                                 r"got 9"),
    ([["Q", None, "r", 6], ["Q", None, "r", "six"]], r"r\.jsonl:2: field 'score' .*'six'"),
    ([["Q", None, "r", 6], ["Q", None, "r", True]], r"r\.jsonl:2: field 'score' .*True"),
    ([["Q", None, "r", 6], ["", None, "r", 6]], r"r\.jsonl:2: field 'instruction' is empty"),
    ([["Q", None, "r", 6], ["Q", None, ["r"], 6]], r"r\.jsonl:2: field 'response' must be a string, got"),
    ([["Q", None, "a", "b", "(a)"], ["Q", None, "a", "b", "(c)"]], r"r\.jsonl:2: field 'ranking' is '\(c\)'"),
    ([["Q", None, "a", "b", "(a)"], ["Q", None, "a", None, "(a)"]],
     r"r\.jsonl:2: field 'response2' must be a string"),
])
def test_jsonl_errors_name_line_and_field(tmp_path, records, pattern):
    header = RATINGS if len(records[0]) == 4 else RANKINGS
    path = write_jsonl(tmp_path / "r.jsonl", [dict(zip(header, r, strict=True)) for r in records])
    with pytest.raises(JudgmentSourceError, match=pattern):
        read_judgments(path)


def test_jsonl_missing_field_and_unknown_shape(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [dict(zip(RANKINGS, ["Q", "", "a", "b", "(a)"], strict=True)),
                                              {"instruction": "Q", "response1": "a", "ranking": "(b)"}])
    with pytest.raises(JudgmentSourceError, match=r"r\.jsonl:2: missing field 'response2'"):
        read_judgments(path)
    outputs = write_jsonl(tmp_path / "o.jsonl", [{"instruction": "Q", "output": "a"}])
    with pytest.raises(JudgmentSourceError, match=r"o\.jsonl:1: expected the fields instruction, input, "
                                                  r"response, score \(ratings\) or"):
        read_judgments(outputs, "sparse_feedback")
    with pytest.raises(JudgmentSourceError, match=r"o\.jsonl: cannot tell the judgment format"):
        read_judgments(outputs)


def test_parquet_errors_name_row_and_field(tmp_path):
    bad = write_parquet(tmp_path / "bad.parquet", RATINGS, [["Q", None, "r", 6], ["Q", None, "r", None]],
                        {"score": "DOUBLE"})
    with pytest.raises(JudgmentSourceError, match=r"bad\.parquet: row 2: field 'score' .*None"):
        read_judgments(bad)
    empty_text = write_parquet(tmp_path / "e.parquet", RANKINGS, [["Q", None, "a", "b", "(a)"],
                                                                  ["Q", None, "a", "b", "(a)"],
                                                                  [None, None, "a", "b", "(b)"]])
    with pytest.raises(JudgmentSourceError, match=r"e\.parquet: row 3: field 'instruction' is null"):
        read_judgments(empty_text)
    other = write_parquet(tmp_path / "o.parquet", ["prompt", "answer"], [["Q", "a"]])
    with pytest.raises(JudgmentSourceError, match=r"o\.parquet: row 1: expected the fields instruction"):
        read_judgments(other)
    with pytest.raises(JudgmentSourceError, match=r"o\.parquet: fastchat judgments are not Parquet"):
        read_judgments(other, "fastchat")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(JudgmentSourceError, match=r"broken\.parquet: cannot be read as Parquet"):
        read_judgments(tmp_path / "broken.parquet")
    nothing = write_parquet(tmp_path / "n.parquet", RATINGS, [])
    with pytest.raises(JudgmentSourceError, match=r"n\.parquet: the file holds no judgments"):
        read_judgments(nothing)
