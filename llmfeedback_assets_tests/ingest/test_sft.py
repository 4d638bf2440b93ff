"""The SFT pool reader (DS2's input): JSON, JSONL, CSV and Parquet; Alpaca, Dolly, messages, ShareGPT and
mapped columns; content-hash ids; bad rows rejected with file, line and field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from llmfeedback_assets.ids import stable_id
from llmfeedback_assets.ingest import SftSourceError, read_prompt_file, read_sft_sources
from llmfeedback_assets.ingest.records import prompt_id
from llmfeedback_assets_tests.support.project import dataset, write_jsonl

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "",
     "output": "Eat well, sleep enough and move every day."},
    {"instruction": "Translate to French.", "input": "Good morning",
     "output": "Bonjour"},
    {"instruction": "Name a primary colour.", "input": "", "output": "Red."},
]


def _read(path: Path, fmt: str = "auto", columns: dict | None = None, name: str | None = None, **kw):
    return read_sft_sources([(path, fmt, columns, name)], **kw)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _write_parquet(path: Path, select_sql: str) -> Path:
    """A Parquet file written by DuckDB (the project reads Parquet with DuckDB; no pyarrow needed)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"COPY ({select_sql}) TO '{path}' (FORMAT parquet)")
    finally:
        con.close()
    return path


def _alpaca_parquet(path: Path, records: list[dict]) -> Path:
    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    rows = ", ".join(f"({quoted(r['instruction'])}, {quoted(r['input'])}, {quoted(r['output'])})"
                     for r in records)
    return _write_parquet(path, f"SELECT * FROM (VALUES {rows}) t(instruction, input, output)")


# -- formats ---------------------------------------------------------------------------------------------


def test_every_format_gives_the_same_examples_and_ids(tmp_path):
    array = tmp_path / "pool.json"
    array.write_text(json.dumps(ALPACA, indent=2), encoding="utf-8")
    lines = write_jsonl(tmp_path / "pool.jsonl", ALPACA)
    table = _write_csv(tmp_path / "pool.csv", ["instruction", "input", "output"],
                       [[r["instruction"], r["input"], r["output"]] for r in ALPACA])
    parquet = _alpaca_parquet(tmp_path / "pool.parquet", ALPACA)

    frames = {p.suffix: _read(p).examples for p in (array, lines, table, parquet)}
    expected_ids = [stable_id(r["instruction"], r["input"], r["output"]) for r in ALPACA]
    for suffix, frame in frames.items():
        assert frame["example_id"].tolist() == expected_ids, suffix
        assert frame["input"].tolist() == ["", "Good morning", ""], suffix
        assert frame["output"].tolist() == [r["output"] for r in ALPACA], suffix
        assert frame["dataset"].unique().tolist() == ["pool"], suffix
    # the judge and the encoder see the instruction, a blank line and the input (the prompt table's turn)
    assert frames[".jsonl"]["instruction"].tolist()[1] == "Translate to French.\n\nGood morning"
    # file:line in each format: JSONL by line, the pretty-printed array by the line its object opens on,
    # CSV by the row's line (header = line 1), Parquet by row
    assert frames[".jsonl"]["source"].tolist() == [f"{lines}:{n}" for n in (1, 2, 3)]
    assert frames[".json"]["source"].tolist() == [f"{array}:{n}" for n in (2, 7, 12)]
    assert frames[".csv"]["source"].tolist() == [f"{table}:{n}" for n in (2, 3, 4)]
    assert frames[".parquet"]["source"].tolist() == [f"{parquet}:{n}" for n in (1, 2, 3)]


def test_prompt_id_is_the_prompt_tables_id_of_the_same_record(tmp_path):
    path = write_jsonl(tmp_path / "alpaca.jsonl", ALPACA)
    prompts, rejected = read_prompt_file(path)
    assert not rejected
    pool = _read(path).examples
    assert pool["prompt_id"].tolist() == [row["prompt_id"] for row in prompts]
    assert pool["prompt_id"].tolist() == [prompt_id([t]) for t in pool["instruction"]]


def test_dolly_alpaca_and_mapped_columns_name_the_same_examples(tmp_path):
    alpaca = write_jsonl(tmp_path / "alpaca.jsonl", ALPACA)
    dolly = write_jsonl(tmp_path / "dolly.jsonl", [
        {"instruction": r["instruction"], "context": r["input"], "response": r["output"], "category": "qa"}
        for r in ALPACA])
    mapped = _write_csv(tmp_path / "mine.csv", ["Q", "extra", "A"],
                        [[r["instruction"], r["input"], r["output"]] for r in ALPACA])
    ids = _read(alpaca).examples["example_id"].tolist()
    assert _read(dolly).examples["example_id"].tolist() == ids
    pool = _read(mapped, columns={"instruction": "Q", "input": "extra", "output": "A"})
    assert pool.examples["example_id"].tolist() == ids
    assert pool.files == {str(mapped): "instruction=Q, input=extra, output=A"}
    assert _read(dolly).files == {str(dolly): "instruction=instruction, input=context, output=response"}
    # a partial mapping: the other fields are still detected
    only_output = _write_csv(tmp_path / "half.csv", ["instruction", "answer_text"],
                             [[r["instruction"], r["output"]] for r in ALPACA])
    assert _read(only_output, columns={"output": "answer_text"}).files[str(only_output)] == (
        "instruction=instruction, output=answer_text")


def test_messages_and_sharegpt_take_the_first_exchange(tmp_path):
    chats = write_jsonl(tmp_path / "chats.jsonl", [
        {"messages": [{"role": "system", "content": "You are helpful."},
                      {"role": "user", "content": "Name a primary colour."},
                      {"role": "assistant", "content": "Red."},
                      {"role": "user", "content": "Another?"},
                      {"role": "assistant", "content": "Blue."}]},
        {"messages": [{"role": "user", "content": "Give three tips for staying healthy."},
                      {"role": "assistant", "content": "Eat well, sleep enough and move every day."}]},
    ])
    share = write_jsonl(tmp_path / "share.jsonl", [
        {"id": "x1", "conversations": [{"from": "human", "value": "Name a primary colour."},
                                       {"from": "gpt", "value": "Red."}]}])
    pool = _read(chats)
    assert pool.examples[["instruction", "input", "output"]].values.tolist() == [
        ["Name a primary colour.", "", "Red."],
        ["Give three tips for staying healthy.", "", "Eat well, sleep enough and move every day."]]
    assert pool.files == {str(chats): "messages=messages"}
    assert pool.notes == ["1 chat record(s): later turns left out (one instruction-response pair per record)",
                          "1 chat record(s): system left out (one instruction-response pair per record)"]
    # the same pair under Alpaca, messages and ShareGPT names is the same example
    alpaca_id = _read(write_jsonl(tmp_path / "a.jsonl", ALPACA[2:])).examples["example_id"].iloc[0]
    assert pool.examples["example_id"].iloc[0] == alpaca_id
    assert _read(share).examples["example_id"].tolist() == [alpaca_id]


def test_parquet_chat_lists_and_folders(tmp_path):
    folder = tmp_path / "pool"
    folder.mkdir()
    _write_parquet(folder / "chat.parquet", """
        SELECT [{'role': 'user', 'content': 'Name a primary colour.'},
                {'role': 'assistant', 'content': 'Red.'}] AS messages""")
    write_jsonl(folder / "alpaca.jsonl", ALPACA)
    (folder / "README.md").write_text("not a pool file")
    pool = read_sft_sources([(folder, "auto", None, "mine")])
    # the folder's files in name order; the Parquet row repeats alpaca.jsonl's third example: merged
    assert len(pool.examples) == 3 and pool.duplicates == 1
    assert set(pool.examples["dataset"]) == {"mine"}
    assert set(pool.files) == {str(folder / "alpaca.jsonl"), str(folder / "chat.parquet")}


def test_duplicates_collapse_to_the_first_row(tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [ALPACA[0], ALPACA[1], dict(ALPACA[0], output="  " +
                                                                           ALPACA[0]["output"] + "\r\n")])
    pool = _read(path)
    assert len(pool.examples) == 2 and pool.duplicates == 1
    assert pool.examples["source"].tolist() == [f"{path}:1", f"{path}:2"]


# -- bad rows --------------------------------------------------------------------------------------------


def test_bad_rows_are_rejected_with_file_line_and_field_and_the_rest_is_kept(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [
        ALPACA[0],
        '{"instruction": "broken", "output": ',
        {"instruction": "No answer here.", "input": ""},
        {"instruction": "   ", "output": "Something."},
        {"instruction": "Count.", "output": 3},
        ["not", "an", "object"],
        ALPACA[1],
    ])
    pool = _read(path)
    assert pool.examples["output"].tolist() == [ALPACA[0]["output"], ALPACA[1]["output"]]
    reasons = {r.line: r.reason for r in pool.rejected}
    assert set(reasons) == {2, 3, 4, 5, 6} and {r.source_file for r in pool.rejected} == {str(path)}
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "missing field 'output'"
    assert reasons[4] == "field 'instruction' is empty"
    assert reasons[5] == "field 'output' must be a string, got number"
    assert reasons[6] == "expected a JSON object, got list"


def test_bad_csv_and_parquet_rows_name_their_line_or_row(tmp_path):
    table = _write_csv(tmp_path / "bad.csv", ["instruction", "input", "output"],
                       [["Fine.", "", "Yes."], ["No output.", "", "nan"], ["Short", "row"]])
    pool = _read(table)
    assert pool.examples["instruction"].tolist() == ["Fine."]
    assert [(r.line, r.reason) for r in pool.rejected] == [
        (3, "field 'output' is empty"), (4, "row has 2 fields, the header has 3")]
    parquet = _write_parquet(tmp_path / "bad.parquet", """
        SELECT * FROM (VALUES ('Fine.', 'Yes.'), ('Null output.', NULL)) t(instruction, output)""")
    pool = _read(parquet)
    assert [(r.source_file, r.line, r.reason) for r in pool.rejected] == [
        (str(parquet), 2, "field 'output' is null")]


def test_oversized_examples_are_rejected_not_truncated(tmp_path):
    path = write_jsonl(tmp_path / "big.jsonl", [ALPACA[0], {"instruction": "Essay.", "output": "word " * 50}])
    pool = _read(path, max_chars=100)
    assert len(pool.examples) == 1
    assert "the limit is max_prompt_chars = 100" in pool.rejected[0].reason and pool.rejected[0].line == 2


def test_sources_that_cannot_be_read_raise_naming_the_file(tmp_path):
    with pytest.raises(SftSourceError, match="no such file or folder"):
        _read(tmp_path / "missing.jsonl")
    unknown = write_jsonl(tmp_path / "dpo.jsonl", [{"prompt": "Hi", "chosen": "Hello", "rejected": "Go"}])
    with pytest.raises(SftSourceError, match=r"dpo.jsonl:1: cannot tell the fields .*columns:"):
        _read(unknown)
    table = _write_csv(tmp_path / "m.csv", ["q", "a"], [["x", "y"]])
    with pytest.raises(SftSourceError, match=r"columns.instruction: the file has no column 'question'"):
        _read(table, columns={"instruction": "question", "output": "a"})
    everything_bad = write_jsonl(tmp_path / "empty_outputs.jsonl", [{"instruction": "x", "output": ""}])
    with pytest.raises(SftSourceError, match=r"no examples in 1 file\(s\) \(1 row\(s\) rejected, e.g. "
                                             r"empty_outputs.jsonl:1 field 'output' is empty\)"):
        _read(everything_bad)
    with pytest.raises(SftSourceError, match="unknown format 'xml'"):
        _read(table, fmt="xml")


def test_a_one_line_json_array_is_read_with_its_line(tmp_path):
    records = [{"instruction": f"Task {i}.", "output": f"Answer {i}."} for i in range(2000)]
    path = tmp_path / "compact.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    pool = _read(path)
    assert len(pool.examples) == 2000 and set(pool.examples["source"]) == {f"{path}:1"}


# -- real data -------------------------------------------------------------------------------------------


def test_davinci003_outputs_read_in_place():
    path = dataset("sparse_feedback", "inference_model_outputs", "davinci003.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    pool = _read(path)
    assert pool.files == {str(path): "instruction=instruction, output=output"}
    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n").strip()

    distinct = {(norm(r["instruction"]), norm(r["output"])) for r in raw}
    assert len(raw) == 805 and not pool.rejected
    assert len(pool.examples) == len(distinct) and pool.duplicates == len(raw) - len(distinct)
    first = pool.examples.iloc[0]
    assert first["instruction"] == raw[0]["instruction"].strip() and first["source"] == f"{path}:2"
    assert first["output"] == raw[0]["output"].strip() and pool.examples["example_id"].is_unique
