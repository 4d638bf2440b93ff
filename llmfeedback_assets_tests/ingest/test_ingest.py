"""Prompt ingestion: real public prompt files, every supported format, bad input and fuzzed input."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmfeedback_assets.config import Config
from llmfeedback_assets.ingest import (
    DEFAULT_MAX_PROMPT_CHARS,
    MAX_TURNS,
    PROMPT_COLUMNS,
    PromptSourceError,
    Rejected,
    display_path,
    incoming_files,
    ingest_prompt_sources,
    prompt_id,
    read_prompt_file,
)
from llmfeedback_assets.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO / ".." / "shared" / "datasets"
BUNDLED = REPO / "data" / "prompts" / "llmfeedback_prompts.jsonl"
MT_BENCH_CATEGORIES = {
    "writing",
    "roleplay",
    "reasoning",
    "math",
    "coding",
    "extraction",
    "stem",
    "humanities",
}


def dataset(rel: str) -> Path:
    path = DATASETS / rel
    if not path.exists():
        pytest.skip(f"{rel} not present in ../shared/datasets")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def reasons(rejected) -> dict[int, str]:
    return {r.line: r.reason for r in rejected}


def check_rows(df: pd.DataFrame, unique: bool = True) -> None:
    """Invariants every ingested prompt satisfies, whatever the input was (one file may repeat a prompt;
    the ingested table may not)."""
    assert list(df.columns) == PROMPT_COLUMNS
    assert df["prompt_id"].is_unique or not unique
    for row in df.itertuples():
        assert 1 <= row.n_turns == len(row.turns) <= MAX_TURNS
        assert all(isinstance(t, str) and t and t == t.strip() for t in row.turns)
        assert row.prompt_id == prompt_id(list(row.turns))
        assert isinstance(row.reference, list) and len(row.reference) <= row.n_turns
        assert isinstance(row.category, str) and row.category
        assert isinstance(row.source_id, str) and row.source_id


# -- ids -------------------------------------------------------------------------------------------------


def test_prompt_id_is_sha256_of_canonical_json_of_the_turns():
    turns = ["Hello, wörld", "second"]
    expected = hashlib.sha256(
        json.dumps(turns, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    assert prompt_id(turns) == expected[:16]
    assert prompt_id(turns) != prompt_id(list(reversed(turns)))
    assert prompt_id(["a", "b"]) != prompt_id(["a\nb"])
    with pytest.raises(ValueError):
        prompt_id(["ok", 3])


# -- real data -------------------------------------------------------------------------------------------


def test_mt_bench_questions_ingest_as_80_two_turn_prompts():
    path = dataset("mt_bench/question.jsonl")
    raw = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    result = ingest_prompt_sources([(path, "auto", None)])
    df = result.prompts
    check_rows(df)
    assert len(df) == 80 and not result.rejected and result.files == [str(path)]
    assert (df["n_turns"] == 2).all()
    assert Counter(df["category"]) == {c: 10 for c in MT_BENCH_CATEGORIES}
    assert sorted(df["source_id"].astype(int)) == sorted(r["question_id"] for r in raw)
    by_id = {str(r["question_id"]): r for r in raw}
    for row in df.itertuples():
        assert row.turns == [t.strip() for t in by_id[row.source_id]["turns"]]
        assert row.reference == [r.strip() for r in by_id[row.source_id].get("reference", [])]
    assert (df["reference"].map(len) > 0).sum() == sum("reference" in r for r in raw) > 0


def test_llmonitor_prompts_ingest_as_19():
    path = dataset("llmfao/prompts.jsonl")
    raw = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records, rejected = read_prompt_file(path, "auto")
    assert len(records) == 19 and not rejected
    df = pd.DataFrame(records, columns=PROMPT_COLUMNS)
    check_rows(df)
    assert (
        set(df["category"])
        == {r["type"] for r in raw}
        == {
            "reflexion",
            "knowledge",
            "code",
            "instruct",
            "creativity",
        }
    )
    assert sorted(df["source_id"]) == sorted(str(r["id"]) for r in raw)
    assert (df["n_turns"] == 1).all()


def test_superni_instruction_array_ingests_with_input_appended():
    path = dataset("sparse_feedback/instructions/natural_instructions.json")
    raw = json.loads(path.read_text())
    result = ingest_prompt_sources([(path, "auto", None)], max_prompt_chars=200_000)
    check_rows(result.prompts)
    distinct = {(r["instruction"].strip(), r["input"].strip()) for r in raw}
    assert len(result.prompts) == len(distinct) and not result.rejected
    assert result.duplicates == len(raw) - len(distinct)
    first = result.prompts.iloc[0]
    # item 547 is a whole story (111,452 characters): over the default limit, it is rejected, not cut
    default = ingest_prompt_sources([(path, "auto", None)])
    assert [(r.line, r.reason) for r in default.rejected] == [
        (1, "item 547: prompt is 111,452 characters; the limit is max_prompt_chars = 100,000")
    ]
    assert len(default.prompts) == len(distinct) - 1
    assert first["turns"] == [raw[0]["instruction"].strip() + "\n\n" + raw[0]["input"].strip()]
    assert first["source_id"] == "1" and first["category"] == "general"


def test_superni_with_limit_and_mt_bench_merge_into_one_table():
    superni = dataset("sparse_feedback/instructions/natural_instructions.json")
    mt = dataset("mt_bench/question.jsonl")
    result = ingest_prompt_sources([(mt, "mtbench", None), (superni, "instruction", 25)])
    check_rows(result.prompts)
    assert Counter(result.prompts["source_file"]) == {str(mt): 80, str(superni): 25}


# -- bundled prompts -------------------------------------------------------------------------------------


def test_bundled_prompts_cover_all_categories_without_rejects():
    result = ingest_prompt_sources([(BUNDLED.parent, "auto", None)])
    df = result.prompts
    check_rows(df)
    assert not result.rejected and result.duplicates == 0
    assert 35 <= len(df) <= 45
    counts = Counter(df["category"])
    assert set(counts) == MT_BENCH_CATEGORIES and min(counts.values()) >= 4
    two_turn = int((df["n_turns"] == 2).sum())
    assert len(df) / 4 <= two_turn <= len(df) / 2
    with_ref = df[df["reference"].map(len) > 0]
    assert 6 <= len(with_ref) <= 12
    assert set(with_ref["category"]) <= {"math", "reasoning", "coding", "extraction"}
    assert (with_ref["reference"].map(len) == with_ref["n_turns"]).all()


def test_bundled_prompts_are_our_own_wording():
    mt = dataset("mt_bench/question.jsonl")
    theirs = {t.strip().lower() for line in mt.read_text().splitlines() for t in json.loads(line)["turns"]}
    records, _ = read_prompt_file(BUNDLED)
    ours = {t.lower() for r in records for t in r["turns"]}
    assert len(ours) == sum(r["n_turns"] for r in records) and not ours & theirs


# -- formats ---------------------------------------------------------------------------------------------


def test_alpaca_array_dolly_jsonl_and_generic_prompt_records(tmp_path):
    alpaca = [
        {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well."},
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    ]
    write(tmp_path / "alpaca.json", json.dumps(alpaca, indent=2))
    write(
        tmp_path / "dolly.jsonl",
        jsonl(
            {
                "instruction": "Who wrote Dune?",
                "context": "Dune is a 1965 novel by Frank Herbert.",
                "response": "Frank Herbert",
                "category": "closed_qa",
            },
            {"instruction": "Name a prime.", "context": "", "response": "7", "category": "open_qa"},
        ),
    )
    write(tmp_path / "generic.jsonl", jsonl({"question": "Why is ice slippery?", "id": "q9"}))
    result = ingest_prompt_sources([(tmp_path, "auto", None)])
    assert not result.rejected
    df = result.prompts.set_index("source_file")
    check_rows(result.prompts)
    rows = {tuple(r.turns): r for r in result.prompts.itertuples()}
    assert rows[("Translate to French.\n\nGood morning",)].reference == ["Bonjour"]
    assert rows[("Give three tips for staying healthy.",)].source_id == "1"
    dune = rows[("Who wrote Dune?\n\nDune is a 1965 novel by Frank Herbert.",)]
    assert (dune.category, dune.reference, dune.source_id) == ("closed_qa", ["Frank Herbert"], "1")
    assert rows[("Why is ice slippery?",)].source_id == "q9"
    assert len(df.loc[str(tmp_path / "dolly.jsonl")]) == 2


def test_alpaca_dump_with_formatted_text_field_is_read_as_instruction(tmp_path):
    rec = {
        "instruction": "Say hi.",
        "input": "",
        "output": "Hi!",
        "text": "### Instruction: Say hi. ### Response: Hi!",
    }
    records, rejected = read_prompt_file(write(tmp_path / "a.jsonl", jsonl(rec)))
    assert not rejected and records[0]["turns"] == ["Say hi."]


def test_self_instruct_instances_and_superni_task_file(tmp_path):
    seed = {
        "id": "seed_task_1",
        "instruction": "Convert the temperature to Fahrenheit.",
        "instances": [{"input": "20 C", "output": "68 F"}, {"input": "", "output": ""}, {"input": 5}],
    }
    task = {
        "Definition": ["Answer the arithmetic question."],
        "Categories": ["Mathematics"],
        "Instances": [
            {"id": "t1", "input": "2+2", "output": ["4", "four"]},
            {"id": "t2", "input": "3*3", "output": ["9"]},
            "not an instance",
        ],
    }
    seed_recs, seed_bad = read_prompt_file(write(tmp_path / "seed.jsonl", jsonl(seed)))
    assert [r["turns"] for r in seed_recs] == [
        ["Convert the temperature to Fahrenheit.\n\n20 C"],
        ["Convert the temperature to Fahrenheit."],
    ]
    assert [r["source_id"] for r in seed_recs] == ["seed_task_1#0", "seed_task_1#1"]
    assert seed_recs[0]["reference"] == ["68 F"] and seed_recs[1]["reference"] == []
    assert len(seed_bad) == 1 and "instances[2].input" in seed_bad[0].reason
    task_recs, task_bad = read_prompt_file(write(tmp_path / "task.json", json.dumps(task, indent=4)))
    assert [(r["source_id"], r["turns"][0], r["reference"]) for r in task_recs] == [
        ("t1", "Answer the arithmetic question.\n\n2+2", ["4"]),
        ("t2", "Answer the arithmetic question.\n\n3*3", ["9"]),
    ]
    assert {r["category"] for r in task_recs} == {"mathematics"}
    assert len(task_bad) == 1 and "Instances[2]" in task_bad[0].reason


def test_csv_with_optional_columns(tmp_path):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["ID", "Question", "Input", "Category", "Reference", "turn2"])
    w.writerow(["a1", "Summarise the text.", "Line one,\nline two.", "Writing", "", ""])
    w.writerow(["a2", "What is 2+2?", "nan", "math", "4", "And 3+3?"])
    w.writerow(["", "Name a colour.", "", "", "", ""])
    records, rejected = read_prompt_file(write(tmp_path / "p.csv", buf.getvalue()))
    assert not rejected
    assert [(r["source_id"], r["category"], r["turns"], r["reference"]) for r in records] == [
        ("a1", "writing", ["Summarise the text.\n\nLine one,\nline two."], []),
        ("a2", "math", ["What is 2+2?", "And 3+3?"], ["4"]),
        ("5", "general", ["Name a colour."], []),  # no id: the line the row starts on
    ]


def test_tsv_and_explicit_csv_format_on_other_extension(tmp_path):
    tsv, _ = read_prompt_file(write(tmp_path / "p.tsv", "prompt\tcategory\nHello there\tchat\n"))
    assert [(r["turns"], r["category"]) for r in tsv] == [(["Hello there"], "chat")]
    txt, bad = read_prompt_file(write(tmp_path / "p.txt", "text\nHi\n"), "csv")
    assert [r["turns"] for r in txt] == [["Hi"]] and not bad


def test_csv_without_prompt_column_is_one_clear_rejection(tmp_path):
    records, rejected = read_prompt_file(write(tmp_path / "bad.csv", "title,body\nx,y\nz,w\n"))
    assert records == []
    assert len(rejected) == 1 and rejected[0].line == 1
    assert (
        "no prompt column" in rejected[0].reason
        and "prompt, text, question, instruction" in rejected[0].reason
    )


def test_csv_bad_rows_do_not_stop_the_file(tmp_path):
    text = (
        "prompt,category\n"
        "First prompt,writing\n"
        "too,many,fields\n"
        ",writing\n"
        '"unbalanced quote starts here,math\n'
        "Second prompt,math\n"
        "Third prompt,stem\n"
    )
    records, rejected = read_prompt_file(write(tmp_path / "p.csv", text))
    assert [r["turns"][0] for r in records] == ["First prompt", "Second prompt", "Third prompt"]
    got = reasons(rejected)
    assert set(got) == {3, 4, 5}
    assert "3 fields" in got[3] and "'prompt' is empty" in got[4]
    assert "quote" in got[5] or "invalid CSV" in got[5]


def test_json_array_with_a_broken_item_keeps_the_others(tmp_path):
    items = [{"instruction": f"Task number {i}.", "input": ""} for i in range(5)]
    text = json.dumps(items, indent=2)
    broken = text.replace('"Task number 2."', '"Task number 2." oops', 1)
    records, rejected = read_prompt_file(write(tmp_path / "arr.json", broken))
    assert [r["turns"][0] for r in records] == [f"Task number {i}." for i in (0, 1, 3, 4)]
    assert [r["source_id"] for r in records] == ["1", "2", "4", "5"]
    assert len(rejected) == 1 and rejected[0].reason.startswith("item 3: invalid JSON")
    item_start = broken.rindex("{", 0, broken.index("oops"))
    assert rejected[0].line == broken[:item_start].count("\n") + 1


def test_json_extension_accepts_jsonl_and_a_single_object(tmp_path):
    lines, bad = read_prompt_file(
        write(tmp_path / "l.json", jsonl({"text": "one"}, "{broken", {"text": "two"}))
    )
    assert [r["turns"] for r in lines] == [["one"], ["two"]] and [r.line for r in bad] == [2]
    single, bad = read_prompt_file(write(tmp_path / "s.json", json.dumps({"turns": ["a", "b"]}, indent=2)))
    assert [r["turns"] for r in single] == [["a", "b"]] and not bad


def test_malformed_jsonl_lines_are_rejected_with_line_and_field(tmp_path):
    lines = jsonl(
        {
            "question_id": 1,
            "category": "math",
            "turns": ["What is 1+1?", "And 2+2?"],
            "reference": ["2", "4"],
        },
        "{not json",
        {"question_id": 2, "turns": ["fine", 7]},
        {"question_id": 3, "turns": ["   "]},
        {"question_id": 4, "category": "x"},
        "[1, 2]",
        "",
        {"question_id": 6, "turns": [f"t{i}" for i in range(MAX_TURNS + 1)]},
        {"question_id": 7, "turns": ["only one"], "reference": ["r1", "r2"]},
        {"question_id": {"x": 1}, "turns": ["bad id"]},
        {"question_id": 9, "turns": "single string turn"},
        {"instruction": "not an mt-bench record"},
    )
    records, rejected = read_prompt_file(write(tmp_path / "q.jsonl", lines))
    assert [(r["source_id"], r["turns"]) for r in records] == [
        ("1", ["What is 1+1?", "And 2+2?"]),
        ("9", ["single string turn"]),
    ]
    got = reasons(rejected)
    assert set(got) == {2, 3, 4, 5, 6, 8, 9, 10, 12}
    assert got[2].startswith("invalid JSON")
    assert "turns[1]" in got[3] and "string" in got[3]
    assert "turns[0]" in got[4] and "empty" in got[4]
    assert "missing field 'turns'" in got[5] and "missing field 'turns'" in got[12]
    assert "JSON object" in got[6] and "list" in got[6]
    assert f"{MAX_TURNS + 1} turns" in got[8]
    assert "reference" in got[9]
    assert "question_id" in got[10]
    assert all(r.source_file == str(tmp_path / "q.jsonl") for r in rejected)
    assert rejected[0].raw == "{not json"


def test_format_is_detected_from_first_usable_record(tmp_path):
    text = jsonl(
        "garbage", {"foo": 1}, {"id": 1, "text": "A llmonitor prompt", "type": "code"}, {"turns": ["x"]}
    )
    records, rejected = read_prompt_file(write(tmp_path / "p.jsonl", text))
    assert [(r["turns"], r["category"]) for r in records] == [(["A llmonitor prompt"], "code")]
    got = reasons(rejected)
    assert "unrecognised record" in got[2] and "missing field 'text'" in got[4]


def test_explicit_format_mismatch_rejects_every_record(tmp_path):
    path = write(tmp_path / "alpaca.jsonl", jsonl({"instruction": "a"}, {"instruction": "b"}))
    records, rejected = read_prompt_file(path, "mtbench")
    assert records == [] and [r.reason for r in rejected] == ["missing field 'turns'"] * 2
    _, wrong_container = read_prompt_file(write(tmp_path / "x.csv", "prompt\nhi\n"), "mtbench")
    assert wrong_container[0].line == 0 and "JSON" in wrong_container[0].reason


def test_invalid_utf8_line_is_rejected_and_bom_is_ignored(tmp_path):
    good = json.dumps({"text": "ok prompt"}).encode()
    data = b"\xef\xbb\xbf" + good + b"\n" + b'{"text": "caf\xe9"}\n' + json.dumps({"text": "second"}).encode()
    path = tmp_path / "p.jsonl"
    path.write_bytes(data)
    records, rejected = read_prompt_file(path)
    assert [r["turns"] for r in records] == [["ok prompt"], ["second"]]
    assert len(rejected) == 1 and rejected[0].line == 2 and "UTF-8" in rejected[0].reason
    rejected[0].raw.encode("utf-8")  # storable
    utf16 = tmp_path / "excel.csv"
    utf16.write_bytes("prompt,category\nCafé au lait?,food\n".encode("utf-16"))
    records, rejected = read_prompt_file(utf16)
    assert [(r["turns"], r["category"]) for r in records] == [(["Café au lait?"], "food")] and not rejected


def test_broken_file_inside_a_folder_is_rejected_but_a_missing_file_source_raises(tmp_path):
    write(tmp_path / "src" / "ok.jsonl", jsonl({"text": "fine"}))
    (tmp_path / "src" / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    result = ingest_prompt_sources([(tmp_path / "src", "auto", None)])
    assert [r.line for r in result.rejected] == [0] and "gone.jsonl" in result.rejected[0].reason
    assert len(result.prompts) == 1
    with pytest.raises(PromptSourceError, match="gone.jsonl"):
        ingest_prompt_sources([(tmp_path / "src" / "gone.jsonl", "auto", None)])


# -- folders, duplicates, limits, errors -----------------------------------------------------------------


def test_folder_order_skips_and_unsupported_files(tmp_path):
    src = tmp_path / "incoming"
    write(src / "b.jsonl", jsonl({"text": "from b"}))
    write(src / "a.jsonl", jsonl({"text": "from a"}))
    write(src / "sub" / "c.jsonl", jsonl({"text": "from sub"}))
    write(src / ".hidden.jsonl", jsonl({"text": "hidden"}))
    write(src / ".git" / "x.jsonl", jsonl({"text": "in git dir"}))
    write(src / "README.md", "# about")
    write(src / "LICENSE", "MIT")
    write(src / "LICENSE.CC-BY", "CC")
    write(src / "notices.jsonl", jsonl({"text": "a prompt file whose name starts like NOTICE"}))
    write(src / "notes.txt", "hello")
    write(src / "empty.jsonl", "")
    result = ingest_prompt_sources([(src, "auto", None)])
    assert [t[0] for t in result.prompts["turns"]] == [
        "from a",
        "from b",
        "a prompt file whose name starts like NOTICE",
        "from sub",
    ]
    names = [Path(f).name for f in result.files]
    assert names == ["a.jsonl", "b.jsonl", "empty.jsonl", "notes.txt", "notices.jsonl", "c.jsonl"]
    got = {Path(r.source_file).name: (r.line, r.reason) for r in result.rejected}
    assert got["notes.txt"][0] == 0 and "unsupported file type .txt" in got["notes.txt"][1]
    assert got["empty.jsonl"] == (0, "file is empty")
    assert len(result.rejected) == 2


def test_incoming_files_are_the_files_the_prompts_asset_reads(tmp_path):
    folder = tmp_path / "incoming"
    assert incoming_files(folder) == []  # a missing folder has no files
    write(folder / "b.jsonl", jsonl({"text": "b"}))
    write(folder / "a.csv", "prompt\nhi\n")
    write(folder / "README.md", "# about")  # documentation, no prompts
    write(folder / ".gitkeep", "")
    write(folder / "sub" / "c.jsonl", jsonl({"text": "c"}))
    write(folder / ".cache" / "d.jsonl", jsonl({"text": "d"}))
    assert incoming_files(folder) == [folder / "a.csv", folder / "b.jsonl", folder / "sub" / "c.jsonl"]
    assert incoming_files(folder / "b.jsonl") == []  # not a folder
    read = ingest_prompt_sources([(folder, "auto", None)]).files
    assert read == [str(p) for p in incoming_files(folder)]


def test_duplicates_merge_keeping_the_first_source(tmp_path):
    a = write(
        tmp_path / "a" / "q.jsonl", jsonl({"question_id": 1, "turns": ["Same prompt"], "category": "x"})
    )
    b = write(
        tmp_path / "b" / "q.csv",
        "prompt,category\nSame prompt  ,y\nOther prompt,y\nOther prompt,z\n",
    )
    result = ingest_prompt_sources([(a.parent, "auto", None), (b, "auto", None)])
    df = result.prompts
    assert len(df) == 2 and result.duplicates == 2
    same = df[df["prompt_id"] == prompt_id(["Same prompt"])].iloc[0]
    assert (same["source_file"], same["category"]) == (str(a), "x")
    assert df[df["prompt_id"] == prompt_id(["Other prompt"])].iloc[0]["category"] == "y"


def test_limit_caps_distinct_prompts_per_source(tmp_path):
    folder = tmp_path / "src"
    write(folder / "1.jsonl", jsonl(*({"text": f"p{i}"} for i in range(3))))
    write(folder / "2.jsonl", jsonl(*({"text": f"q{i}"} for i in range(3))))
    other = write(tmp_path / "other.jsonl", jsonl({"text": "p0"}, {"text": "z"}))
    result = ingest_prompt_sources([(folder, "auto", 4), (other, "auto", 1)])
    assert [t[0] for t in result.prompts["turns"]] == ["p0", "p1", "p2", "q0"]
    assert len(result.files) == 3 and result.duplicates == 1


def test_missing_folder_and_empty_prompt_set_raise_before_any_model_call(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(PromptSourceError, match="nope") as err:
        ingest_prompt_sources([(missing, "auto", None)])
    assert err.value.path == str(missing)
    with pytest.raises(PromptSourceError, match="does not exist"):
        read_prompt_file(missing / "q.jsonl")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PromptSourceError, match="no prompts found"):
        ingest_prompt_sources([(empty, "auto", None)])
    write(empty / "bad.jsonl", jsonl({"turns": []}))
    with pytest.raises(PromptSourceError, match=r"bad\.jsonl:1 field 'turns' is empty") as err:
        ingest_prompt_sources([(empty, "auto", None)])
    assert str(empty) in str(err.value)
    with pytest.raises(PromptSourceError, match="no prompt sources"):
        ingest_prompt_sources([])
    with pytest.raises(PromptSourceError, match="unknown prompt format 'yaml'"):
        ingest_prompt_sources([(empty, "yaml", None)])


def test_an_empty_folder_is_fine_next_to_a_source_with_prompts(tmp_path):
    (tmp_path / "incoming").mkdir()
    write(tmp_path / "incoming" / ".gitkeep", "")
    result = ingest_prompt_sources([(BUNDLED, "auto", None), (tmp_path / "incoming", "auto", None)])
    assert len(result.prompts) > 0 and not result.rejected


def test_result_lands_in_the_warehouse_and_metadata(tmp_path):
    write(tmp_path / "p" / "q.jsonl", jsonl({"turns": ["one", "two"], "reference": ["r", ""]}, "oops"))
    write(tmp_path / "p" / "r.csv", "text\nthree\n")
    result = ingest_prompt_sources([(tmp_path / "p", "auto", None)])
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.upsert("prompts", result.prompts)
    rej = result.rejected_frame().assign(asset="prompts", rejected_at=datetime(2024, 1, 1))
    wh.append("rejected_inputs", rej)
    back = wh.table("prompts").sort_values("n_turns")
    assert [list(t) for t in back["turns"]] == [["three"], ["one", "two"]]
    assert [list(r) for r in back["reference"]] == [[], ["r", ""]]
    stored = wh.table("rejected_inputs")
    assert stored[["line", "raw"]].values.tolist() == [[2, "oops"]]
    meta = result.metadata()
    assert (meta["num_prompts"], meta["num_rejected"], meta["num_two_turn"], meta["num_with_reference"]) == (
        2,
        1,
        1,
        1,
    )
    assert meta["categories"] == {"general": 2}
    assert "| q.jsonl | 2 | invalid JSON" in meta["rejected_preview"]


# -- input that must not block a run: file names, line endings, sizes --------------------------------------


def storable(frame: pd.DataFrame) -> None:
    """Every text in the frame is valid UTF-8 without NUL (what DuckDB and Dagster's event log accept)."""
    for col in frame.columns:
        for value in frame[col]:
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    text.encode("utf-8")
                    assert "\x00" not in text


def test_a_file_whose_name_is_not_utf8_is_read_and_stored_under_an_escaped_name(tmp_path):
    folder = tmp_path / "incoming"
    write(folder / "good.jsonl", jsonl({"text": "first good"}, {"text": "second good"}))
    bfolder = os.fsencode(folder)
    with open(os.path.join(bfolder, b"bad\xff.jsonl"), "wb") as f:
        f.write(jsonl({"text": "from the odd name"}, "{broken").encode())
    os.mkdir(os.path.join(bfolder, b"caf\xe9"))
    with open(os.path.join(bfolder, b"caf\xe9", b"menu.csv"), "wb") as f:
        f.write(b"prompt\nWhat is on the menu?\n")
    os.symlink(b"/nowhere.jsonl", os.path.join(bfolder, b"gone\xfe.jsonl"))  # unreadable: rejected

    result = ingest_prompt_sources([(folder, "auto", None)])
    by_text = dict(
        zip(result.prompts["turns"].map(lambda t: t[0]), result.prompts["source_file"], strict=True)
    )
    assert by_text == {
        "first good": str(folder / "good.jsonl"),
        "second good": str(folder / "good.jsonl"),
        "from the odd name": f"{folder}/bad\\xff.jsonl",  # each bad byte shown as \xNN
        "What is on the menu?": f"{folder}/caf\\xe9/menu.csv",
    }
    got = {(r.source_file, r.line) for r in result.rejected}
    assert got == {(f"{folder}/bad\\xff.jsonl", 2), (f"{folder}/gone\\xfe.jsonl", 0)}
    gone = next(r for r in result.rejected if r.line == 0)
    assert "gone\\xfe.jsonl" in gone.reason and "does not exist" in gone.reason
    assert f"{folder}/bad\\xff.jsonl" in result.files
    storable(result.prompts)
    storable(result.rejected_frame())
    json.dumps(result.files, ensure_ascii=False).encode("utf-8")
    json.dumps(result.metadata(), ensure_ascii=False).encode("utf-8")

    # exactly what the prompts asset writes
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_table("prompts", result.prompts)
    frame = result.rejected_frame()
    wh.replace_where("rejected_inputs", frame.assign(asset="prompts", rejected_at=None), {"asset": "prompts"})
    assert set(wh.table("prompts")["source_file"]) == set(by_text.values())
    assert set(wh.table("rejected_inputs")["source_file"]) == {s for s, _ in got}

    # the sensor still gets a path it can open
    odd = next(p for p in incoming_files(folder) if p.name.startswith("bad"))
    assert odd.read_bytes().startswith(b'{"text"')
    records, rejected = read_prompt_file(odd)
    assert [r["source_file"] for r in records] == [f"{folder}/bad\\xff.jsonl"] and len(rejected) == 1


def test_display_path_and_storable_rejects():
    assert display_path(b"/in/bad\xff.jsonl") == "/in/bad\\xff.jsonl"
    assert display_path(Path(os.fsdecode(b"/in/caf\xc3\xa9.jsonl"))) == "/in/café.jsonl"
    assert display_path("/in/lone\ud800.jsonl") == "/in/lone\\ud800.jsonl"
    r = Rejected(os.fsdecode(b"x\xff.csv"), 3, "bad \x00 byte in x\udcff.csv", "raw\x00")
    assert (r.source_file, r.reason, r.raw) == ("x\\xff.csv", "bad \\x00 byte in x\\xff.csv", "raw\\x00")
    assert PromptSourceError(os.fsdecode(b"/in/\xff"), "gone").path == "/in/\\xff"


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_jsonl_lines_end_at_cr_crlf_or_lf(tmp_path, newline):
    text = newline.join(['{"text": "one"}', "{broken", "", '{"text": "four"}', '"a string"']) + newline
    path = tmp_path / "p.jsonl"
    path.write_bytes(text.encode())
    records, rejected = read_prompt_file(path)
    assert [(r["turns"], r["source_id"]) for r in records] == [(["one"], "1"), (["four"], "4")]
    assert [(r.line, r.raw) for r in rejected] == [(2, "{broken"), (5, '"a string"')]


def test_mixed_line_endings_and_a_cr_only_json_array(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"text": "a"}\r\n{"text": "b"}\r{oops\n{"text": "d"}\r\r\n{"text": "f"}')
    records, rejected = read_prompt_file(path)
    assert [(r["turns"][0], r["source_id"]) for r in records] == [
        ("a", "1"),
        ("b", "2"),
        ("d", "4"),
        ("f", "6"),
    ]
    assert [r.line for r in rejected] == [3]
    items = [{"instruction": f"Task {i}."} for i in range(4)]
    text = json.dumps(items, indent=2).replace('"Task 2."', '"Task 2." oops').replace("\n", "\r")
    arr = tmp_path / "arr.json"
    arr.write_bytes(text.encode())
    records, rejected = read_prompt_file(arr)
    assert [r["turns"][0] for r in records] == ["Task 0.", "Task 1.", "Task 3."]
    item_start = text.rindex("{", 0, text.index("oops"))
    assert [r.line for r in rejected] == [text[:item_start].count("\r") + 1]  # the line of its '{'
    single = tmp_path / "task.json"
    single.write_bytes(json.dumps({"turns": ["x", "y"]}, indent=2).replace("\n", "\r").encode())
    records, rejected = read_prompt_file(single)
    assert [r["turns"] for r in records] == [["x", "y"]] and not rejected


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_csv_lines_end_at_cr_crlf_or_lf(tmp_path, newline):
    rows = ["prompt,id", "first,a", "too,many,fields", '"two', 'lines",b', ",c", "last,d"]
    path = tmp_path / "p.csv"
    path.write_bytes((newline.join(rows) + newline).encode())
    records, rejected = read_prompt_file(path)
    assert [(r["turns"][0], r["source_id"]) for r in records] == [
        ("first", "a"),
        ("two\nlines", "b"),
        ("last", "d"),
    ]
    assert {r.line: r.reason.split(":")[0] for r in rejected} == {
        3: "row has 3 fields, the header has 2",
        6: "field 'prompt' is empty",
    }


def test_a_prompt_over_max_prompt_chars_is_rejected_with_its_size_not_truncated(tmp_path):
    huge = "x" * 20_000_123
    path = write(tmp_path / "p.jsonl", jsonl({"text": "small"}, {"text": huge}, {"text": "after"}))
    result = ingest_prompt_sources([(path, "auto", None)])  # the default limit
    assert [t[0] for t in result.prompts["turns"]] == ["small", "after"]
    assert [(r.line, r.reason) for r in result.rejected] == [
        (2, "prompt is 20,000,123 characters; the limit is max_prompt_chars = 100,000")
    ]
    assert len(result.rejected[0].raw) <= 500

    # turns and reference answers count together; exactly the limit is fine
    recs = jsonl(
        {"question_id": 1, "turns": ["aaaa", "bbb"], "reference": ["cc", "d"]},  # 10 characters
        {"question_id": 2, "turns": ["aaaa", "bbbb"], "reference": ["cc", "d"]},  # 11
        {"question_id": 3, "turns": ["  padded  "]},  # 6 once normalised
    )
    records, rejected = read_prompt_file(write(tmp_path / "q.jsonl", recs), max_prompt_chars=10)
    assert [r["source_id"] for r in records] == ["1", "3"]
    assert [(r.line, r.reason) for r in rejected] == [
        (2, "prompt is 11 characters; the limit is max_prompt_chars = 10")
    ]
    # one instance of a multi-instance record is rejected, its siblings kept
    seed = {"id": "s", "instruction": "Say it.", "instances": [{"input": "hi"}, {"input": "y" * 50}]}
    records, rejected = read_prompt_file(write(tmp_path / "seed.jsonl", jsonl(seed)), max_prompt_chars=20)
    assert [r["source_id"] for r in records] == ["s#0"]
    assert rejected[0].reason == "instances[1]: prompt is 59 characters; the limit is max_prompt_chars = 20"
    # CSV rows too
    csv_text = "prompt,reference\nshort,ok\n" + "z" * 30 + ",\nfine,\n"
    records, rejected = read_prompt_file(write(tmp_path / "p.csv", csv_text), max_prompt_chars=20)
    assert [r["turns"][0] for r in records] == ["short", "fine"]
    assert reasons(rejected) == {3: "prompt is 30 characters; the limit is max_prompt_chars = 20"}
    # the limit reaches every file of every source
    result = ingest_prompt_sources(
        [(tmp_path / "q.jsonl", "auto", None), (tmp_path / "p.csv", "csv", None)], max_prompt_chars=10
    )
    assert sorted(r.line for r in result.rejected) == [2, 3]


def test_a_csv_field_longer_than_the_parser_allows_is_a_clear_rejection(tmp_path):
    text = "prompt\nbefore\n" + "w" * 2_500_000 + "\nafter\n"
    records, rejected = read_prompt_file(write(tmp_path / "big.csv", text), max_prompt_chars=2_000_000)
    assert [r["turns"][0] for r in records] == ["before", "after"]
    assert len(rejected) == 1 and rejected[0].line == 3
    assert re.fullmatch(
        r"(a field is over [\d,]+|prompt is 2,500,000) characters; the limit is "
        r"max_prompt_chars = 2,000,000",
        rejected[0].reason,
    )
    records, _ = read_prompt_file(tmp_path / "big.csv", max_prompt_chars=3_000_000)  # the limit decides
    assert len(records) == 3


def test_max_prompt_chars_must_be_positive_and_matches_the_config_default(tmp_path):
    path = write(tmp_path / "p.jsonl", jsonl({"text": "hi"}))
    for bad in (0, -5, 1.5, True):
        with pytest.raises(PromptSourceError, match="max_prompt_chars"):
            ingest_prompt_sources([(path, "auto", None)], max_prompt_chars=bad)
        with pytest.raises(PromptSourceError, match="max_prompt_chars"):
            read_prompt_file(path, max_prompt_chars=bad)
    assert Config.model_fields["max_prompt_chars"].default == DEFAULT_MAX_PROMPT_CHARS == 100_000


def test_nul_in_a_prompt_is_rejected_by_field_not_stored(tmp_path):
    # DuckDB would store NUL, but PostgreSQL text cannot hold it: a prompt never carries one
    path = write(
        tmp_path / "p.jsonl",
        jsonl({"text": "ok"}, {"text": "a\u0000b"}, {"text": "x", "type": "c\u0000"}),
    )
    records, rejected = read_prompt_file(path)
    assert [r["turns"] for r in records] == [["ok"]]
    assert reasons(rejected) == {
        2: "field 'text' contains a NUL character",
        3: "field 'type' is not valid text",
    }
    assert all("\x00" not in r.raw for r in rejected)


# -- fuzzing ---------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
valid_turn = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip() and s.strip() != "nan"  # pandas' empty-cell marker counts as empty in CSV
)
valid_record = st.fixed_dictionaries(
    {"turns": st.lists(valid_turn, min_size=1, max_size=2), "category": st.sampled_from(["math", "stem"])}
)
garbage_line = st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s)


@FUZZ
@given(data=st.binary(max_size=400), name=st.sampled_from(["x.jsonl", "x.json", "x.csv", "x.tsv", "x.bin"]))
def test_arbitrary_bytes_never_crash(tmp_path, data, name):
    path = tmp_path / name
    path.write_bytes(data)
    records, rejected = read_prompt_file(path)
    check_rows(pd.DataFrame(records, columns=PROMPT_COLUMNS), unique=False)
    n_lines = data.count(b"\n") + data.count(b"\r") + 1
    for r in rejected:
        assert 0 <= r.line <= n_lines and r.reason
        r.raw.encode("utf-8")  # always storable
        assert "\x00" not in r.raw


@FUZZ
@given(
    rows=st.lists(st.one_of(valid_record.map(lambda r: ("ok", r)), garbage_line.map(lambda g: ("bad", g))))
)
def test_valid_jsonl_rows_survive_next_to_garbage(tmp_path, rows):
    lines = [json.dumps(v, ensure_ascii=False) if kind == "ok" else v for kind, v in rows]
    path = tmp_path / "mix.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    records, rejected = read_prompt_file(path)
    expected = [[t.strip() for t in v["turns"]] for kind, v in rows if kind == "ok"]
    garbage_objects = [v for kind, v in rows if kind == "bad" and _json_object(v)]
    if not garbage_objects:  # a garbage line that happens to be a JSON object could steer format detection
        assert [r["turns"] for r in records] == expected
        bad_lines = {i + 1 for i, (kind, v) in enumerate(rows) if kind == "bad" and v.strip()}
        if not "".join(lines).strip():
            bad_lines = {0}  # "file is empty"
        assert {r.line for r in rejected} == bad_lines


@FUZZ
@given(
    rows=st.lists(
        st.one_of(
            st.tuples(valid_turn, st.sampled_from(["math", "stem"])).map(lambda r: ("ok", r)),
            garbage_line.filter(lambda s: '"' not in s).map(lambda g: ("bad", g)),
        )
    )
)
def test_valid_csv_rows_survive_next_to_garbage(tmp_path, rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["prompt", "category"])
    for kind, value in rows:
        if kind == "ok":
            writer.writerow(value)
        else:
            buf.write(value + "\n")
    path = tmp_path / "mix.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    records, _ = read_prompt_file(path)
    check_rows(pd.DataFrame(records, columns=PROMPT_COLUMNS), unique=False)
    got = [(r["turns"][0], r["category"]) for r in records]
    expected = [
        (t.replace("\r\n", "\n").replace("\r", "\n").strip(), c)
        for kind, (t, c) in ((k, v) for k, v in rows if k == "ok")
    ]
    assert all(e in got for e in expected)


@FUZZ
@given(
    n=st.integers(2, 6),
    broken=st.integers(0, 5),
    garbage=st.text(st.sampled_from('ab1 ,:-.\t\n"{}]true'), max_size=12),
)
def test_pretty_json_array_items_survive_a_broken_neighbour(tmp_path, n, broken, garbage):
    broken %= n
    items = [json.dumps({"instruction": f"Task {i}"}) for i in range(n)]
    items[broken] = garbage
    path = write(tmp_path / "arr.json", "[\n  " + ",\n  ".join(items) + "\n]\n")
    records, rejected = read_prompt_file(path)
    assert [r["turns"][0] for r in records] == [f"Task {i}" for i in range(n) if i != broken]
    trailing_comma = broken == n - 1 and not garbage.strip()  # "[{...},\n]" is tolerated
    assert (len(rejected) >= 1 or trailing_comma) and all(r.line >= 1 for r in rejected)


def _json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
