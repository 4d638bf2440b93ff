"""Reading a user's answers: real MT-bench, LLMFAO, AlpacaEval-format and sparse-feedback files, small
FastChat/AlpacaEval fixtures, format detection, and every error path with its file and line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from llmfeedback_assets.ingest import AnswerSourceError, prompt_id, read_answers, read_prompt_file
from llmfeedback_assets_tests.support.project import dataset, write_jsonl

COLUMNS = {"question_id", "model", "turn", "choice", "text", "question", "category", "source_file", "line",
           "format", "prompt_id", "model_id"}

jsonl = write_jsonl


def write_json(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def fastchat_answer(qid, model="vicuna", turns=(("a1", "a2"),)):
    return {"question_id": qid, "answer_id": f"x{qid}", "model_id": model, "tstamp": 1.0,
            "choices": [{"index": i, "turns": list(t)} for i, t in enumerate(turns)]}


# -- real files ----------------------------------------------------------------------------------------------


def test_mtbench_reference_answers_read_as_fastchat():
    path = dataset("mt_bench/reference_answer/gpt-4.jsonl")
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    df = read_answers(path)
    assert COLUMNS <= set(df.columns)
    assert set(df["format"]) == {"fastchat"} and set(df["model"]) == {"gpt-4"}
    assert df["question_id"].nunique() == 30 == len(raw)
    expected_turns = {str(r["question_id"]): len(r["choices"][0]["turns"]) for r in raw}
    assert df.groupby("question_id")["turn"].max().to_dict() == expected_turns
    assert len(df) == sum(expected_turns.values())
    assert df["question"].isna().all() and df["category"].isna().all()
    first = raw[0]
    row = df[(df["question_id"] == str(first["question_id"])) & (df["turn"] == 2)].iloc[0]
    assert row["text"] == first["choices"][0]["turns"][1] and row["line"] == 1 and row["choice"] == 0
    # the folder reads the same (one file in it)
    assert len(read_answers(path.parent)) == len(df)


def test_llmfao_results_resolve_names_prompts_and_ids():
    path = dataset("llmfao/results.jsonl")
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    prompts = {str(json.loads(x)["id"]): json.loads(x) for x in
               (path.parent / "prompts.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()}
    df = read_answers(path)
    assert len(df) == 1133 == len(raw)
    assert df["question_id"].nunique() == 19 and set(df["format"]) == {"llmfao"}
    assert list(df["model"]) == [r["name"] for r in raw]
    assert list(df["model_id"]) == [str(r["model"]) for r in raw]
    assert list(df["text"]) == [r["result"] for r in raw]  # empty results are kept, verbatim
    assert (df["text"] == "").sum() == sum(1 for r in raw if r["result"] == "")
    assert list(df["category"]) == [prompts[str(r["prompt"])]["type"] for r in raw]
    assert list(df["line"]) == list(range(1, 1134))
    # question and prompt_id are what the prompt table makes of prompts.jsonl
    table, rejected = read_prompt_file(path.parent / "prompts.jsonl")
    assert not rejected
    by_source = {r["source_id"]: r for r in table}
    for qid, group in df.groupby("question_id"):
        assert set(group["prompt_id"]) == {by_source[qid]["prompt_id"]}
        assert set(group["question"]) == {by_source[qid]["turns"][0]}


def test_sparse_feedback_generations_are_choices_matching_the_feedback_csvs():
    path = dataset("sparse_feedback/alpaca_generation/sample_generation.json")
    df = read_answers(path)
    assert len(df) == 100 and df["question_id"].nunique() == 20
    assert set(df["format"]) == {"sparse_feedback"} and set(df["model"]) == {"alpaca-7b"}
    assert all(sorted(group) == [0, 1, 2, 3, 4] for _, group in df.groupby("question_id")["choice"])
    assert (df["question_id"] == df["prompt_id"]).all()
    # ids are the prompt table's ids for the same file (instruction + input)
    table, rejected = read_prompt_file(path)
    assert not rejected and set(df["prompt_id"]) == {r["prompt_id"] for r in table}
    assert read_answers(path, model="my-model")["model"].eq("my-model").all()
    # every rated and ranked response is found again by (question id, text)
    answers = set(zip(df["question_id"], df["text"], strict=True))
    folder = path.parent
    for name, text_columns in (("feedback_ratings_sample_generation.csv", [2]),
                               ("feedback_rankings_sample_generation.csv", [2, 3])):
        rows = list(csv.reader((folder / name).open(encoding="utf-8", newline="")))
        for row in rows:
            qid = prompt_id([f"{row[0].strip()}\n\n{row[1].strip()}" if row[1] != "nan" else row[0].strip()])
            assert all((qid, row[c]) in answers for c in text_columns)


def test_alpaca_eval_outputs_real_file():
    path = dataset("sparse_feedback/inference_model_outputs/davinci003.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    df = read_answers(path)
    assert len(df) == len(raw) == 805 and set(df["format"]) == {"alpaca_eval"}
    assert list(df["model"]) == [r["generator"] for r in raw]
    assert list(df["category"]) == [r["dataset"] for r in raw]
    assert list(df["line"]) == list(range(1, 806))
    table, _ = read_prompt_file(path)
    assert list(df["question_id"]) == [r["prompt_id"] for r in table]


# -- fixtures ------------------------------------------------------------------------------------------------


def test_fastchat_every_choice_and_turn(tmp_path):
    path = jsonl(tmp_path / "model_answer" / "vicuna.jsonl", [
        fastchat_answer(81, turns=(("c0t1", "c0t2"), ("c1t1", "c1t2"))),
        {"question_id": "q2", "choices": [{"turns": ["only"]}]},  # no model_id, no index
    ])
    df = read_answers(path)
    got = {(r.question_id, r.model, r.choice, r.turn): (r.text, r.line) for r in df.itertuples()}
    assert got == {
        ("81", "vicuna", 0, 1): ("c0t1", 1), ("81", "vicuna", 0, 2): ("c0t2", 1),
        ("81", "vicuna", 1, 1): ("c1t1", 1), ("81", "vicuna", 1, 2): ("c1t2", 1),
        ("q2", "vicuna", 0, 1): ("only", 2),  # the file stem names a record without model_id
    }
    assert df["turn"].dtype == "int64" and df["choice"].dtype == "int64"
    assert df["question"].isna().all() and df["prompt_id"].isna().all()


def test_alpaca_eval_fixture_ids_match_the_prompt_table(tmp_path):
    path = write_json(tmp_path / "outputs.json", [
        {"instruction": "  Say hi.\r\n", "output": "Hi!", "generator": "m1", "dataset": "helpful_base",
         "extra": 1},
        {"instruction": "Add.", "input": "2 and 3", "output": "", "generator": "m1"},
    ])
    df = read_answers(path)
    assert list(df["question"]) == ["Say hi.", "Add.\n\n2 and 3"]
    assert list(df["category"]) == ["helpful_base", None]
    assert list(df["text"]) == ["Hi!", ""] and list(df["line"]) == [1, 2]
    table, _ = read_prompt_file(path)
    assert list(df["question_id"]) == [r["prompt_id"] for r in table] == list(df["prompt_id"])
    no_generator = write_json(tmp_path / "no_gen.json", [{"instruction": "Q", "output": "A"}])
    assert list(read_answers(no_generator, "alpaca_eval", model="mine")["model"]) == ["mine"]


def test_folder_reads_sorted_files_and_detects_each_format(tmp_path):
    folder = tmp_path / "answers"
    jsonl(folder / "b_fastchat.jsonl", [fastchat_answer(1)])
    write_json(folder / "a_alpaca.json", [{"instruction": "Q", "output": "A", "generator": "g"}])
    write_json(folder / "c_sparse.json", [{"instruction": "Q", "input": "nan", "responses": ["r0", "r1"]}])
    (folder / ".hidden.jsonl").write_text("not json", encoding="utf-8")
    (folder / "README.json").write_text("not json", encoding="utf-8")
    (folder / "notes.txt").write_text("not json", encoding="utf-8")
    df = read_answers(folder)
    assert list(df["format"]) == ["alpaca_eval", "fastchat", "fastchat", "sparse_feedback", "sparse_feedback"]
    assert [Path(p).name for p in df["source_file"]] == ["a_alpaca.json"] + ["b_fastchat.jsonl"] * 2 + [
        "c_sparse.json"] * 2
    sparse = df[df["format"] == "sparse_feedback"]
    assert set(sparse["question"]) == {"Q"}  # a "nan" input is no input
    alpaca = df[df["format"] == "alpaca_eval"]
    assert set(sparse["question_id"]) == {prompt_id(["Q"])} == set(alpaca["question_id"])


def test_llmfao_fixture_name_must_agree_with_models_jsonl(tmp_path):
    jsonl(tmp_path / "prompts.jsonl", [{"id": 1, "text": "Hello?", "type": "Chat"}])
    jsonl(tmp_path / "models.jsonl", [{"id": 7, "name": "Seven"}])
    ok = jsonl(tmp_path / "results.jsonl", [{"id": 0, "model": 7, "result": "hi", "prompt": 1}])
    df = read_answers(ok)
    assert df.iloc[0][["question_id", "model", "model_id", "question", "category"]].tolist() == [
        "1", "Seven", "7", "Hello?", "chat"]
    bad = jsonl(tmp_path / "results.jsonl", [
        {"id": 0, "model": 7, "result": "hi", "prompt": 1},
        {"id": 1, "model": 7, "result": "x", "prompt": 1, "name": "Six"},
    ])
    with pytest.raises(AnswerSourceError, match=r"results\.jsonl:2: field 'name' is 'Six'.*'Seven'"):
        read_answers(bad)


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record, pattern", [
    ({"question_id": 1, "model_id": "m"}, r"missing field 'choices'"),
    ({"question_id": 1, "choices": "abc"}, r"field 'choices' must be a non-empty list"),
    ({"question_id": 1, "choices": []}, r"field 'choices' must be a non-empty list"),
    ({"question_id": 1, "choices": [{"index": 0, "turns": []}]},
     r"field 'choices\[0\]\.turns' is an empty list"),
    ({"question_id": 1, "choices": [{"index": 0}]}, r"missing field 'choices\[0\]\.turns'"),
    ({"question_id": 1, "choices": [{"turns": "text"}]}, r"field 'choices\[0\]\.turns' must be a list"),
    ({"question_id": 1, "choices": [{"turns": ["a"]}, {"turns": ["b", None]}]},
     r"field 'choices\[1\]\.turns\[1\]' must be a string, got null"),
    ({"question_id": 1, "choices": [{"index": 0, "turns": ["a"]}, {"index": 0, "turns": ["b"]}]},
     r"field 'choices\[1\]\.index' repeats choice 0"),
    ({"question_id": 1, "choices": [{"index": -1, "turns": ["a"]}]}, r"field 'choices\[0\]\.index' must be"),
    ({"question_id": None, "choices": [{"turns": ["a"]}]}, r"field 'question_id' must be"),
    ({"choices": [{"turns": ["a"]}]}, r"missing field 'question_id'"),
    ({"question_id": 1, "model_id": "", "choices": [{"turns": ["a"]}]},
     r"field 'model_id' must be a non-empty"),
])
def test_fastchat_record_errors_name_file_line_and_field(tmp_path, record, pattern):
    path = jsonl(tmp_path / "m.jsonl", [fastchat_answer(1), record])
    with pytest.raises(AnswerSourceError, match=r"m\.jsonl:2: " + pattern):
        read_answers(path, "fastchat")


def test_invalid_json_and_non_objects_name_their_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(fastchat_answer(1)) + "\n\n{broken\n", encoding="utf-8")
    with pytest.raises(AnswerSourceError, match=r"m\.jsonl:3: invalid JSON"):
        read_answers(path)
    jsonl(path, [fastchat_answer(1), [1, 2]])
    with pytest.raises(AnswerSourceError, match=r"m\.jsonl:2: expected a JSON object, got list"):
        read_answers(path)
    array = tmp_path / "a.json"
    array.write_text('[\n {"instruction": "Q", "output": "A", "generator": "g"},\n {"instruction": }\n]')
    with pytest.raises(AnswerSourceError, match=r"a\.json:3: invalid JSON"):
        read_answers(array)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps(fastchat_answer(1)).encode() + b'\n{"x": "caf\xe9"}\n')
    with pytest.raises(AnswerSourceError, match=r"latin\.jsonl:2: not UTF-8"):
        read_answers(latin)


@pytest.mark.parametrize("record, pattern", [
    ({"instruction": "Q", "generator": "g"}, r"missing field 'output'"),
    ({"output": "A", "generator": "g"}, r"missing field 'instruction'"),
    ({"instruction": "Q", "output": None, "generator": "g"}, r"field 'output' must be a string, got null"),
    ({"instruction": "  ", "output": "A", "generator": "g"}, r"field 'instruction' is empty"),
    ({"instruction": "Q", "output": "A"}, r"missing field 'generator'"),
    ({"instruction": "Q", "output": "A", "generator": 3}, r"field 'generator' must be a non-empty string"),
])
def test_alpaca_eval_errors_name_the_record(tmp_path, record, pattern):
    first = {"instruction": "Q0", "output": "A0", "generator": "g"}
    path = write_json(tmp_path / "out.json", [first, record])
    with pytest.raises(AnswerSourceError, match=r"out\.json: record 2: " + pattern):
        read_answers(path, "alpaca_eval")


@pytest.mark.parametrize("record, pattern", [
    ({"instruction": "Q", "responses": []}, r"field 'responses' is an empty list"),
    ({"instruction": "Q", "responses": ["a", 5]}, r"field 'responses\[1\]' must be a string, got number"),
    ({"instruction": "Q", "input": 3, "responses": ["a"]}, r"field 'input' must be a string"),
    ({"instruction": "Q"}, r"missing field 'responses'"),
])
def test_sparse_feedback_errors_name_the_record(tmp_path, record, pattern):
    path = write_json(tmp_path / "gen.json", [{"instruction": "Q0", "responses": ["a"]}, record])
    with pytest.raises(AnswerSourceError, match=r"gen\.json: record 2: " + pattern):
        read_answers(path, "sparse_feedback")


def test_llmfao_errors(tmp_path):
    results = [{"id": 0, "model": 7, "result": "hi", "prompt": 1},
               {"id": 1, "model": 7, "result": "x", "prompt": 2}]
    path = jsonl(tmp_path / "results.jsonl", results)
    with pytest.raises(AnswerSourceError, match=r"results\.jsonl: LLMFAO results need prompts\.jsonl beside"):
        read_answers(path)
    jsonl(tmp_path / "prompts.jsonl", [{"id": 1, "text": "Hello?", "type": "chat"}])
    with pytest.raises(AnswerSourceError, match=r"results\.jsonl:1: missing field 'name'"):
        read_answers(path)
    jsonl(tmp_path / "models.jsonl", [{"id": 7, "name": "Seven"}])
    with pytest.raises(AnswerSourceError, match=r"results\.jsonl:2: field 'prompt': prompt id 2 is not in"):
        read_answers(path)
    jsonl(path, [{"id": 0, "model": 8, "result": "hi", "prompt": 1}])
    with pytest.raises(AnswerSourceError, match=r"results\.jsonl:1: field 'model': model id 8 is not in"):
        read_answers(path)
    jsonl(path, [{"id": 0, "model": 7, "result": None, "prompt": 1}])
    with pytest.raises(AnswerSourceError, match=r"results\.jsonl:1: field 'result' must be a string"):
        read_answers(path)
    jsonl(tmp_path / "prompts.jsonl", [{"id": 1, "text": "Hello?"}, {"id": 2}])
    with pytest.raises(AnswerSourceError, match=r"prompts\.jsonl:2: missing field 'text'"):
        read_answers(path)


def test_paths_formats_and_detection_errors(tmp_path):
    with pytest.raises(AnswerSourceError, match="no such file or folder"):
        read_answers(tmp_path / "missing.jsonl")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "LICENSE.json").write_text("{}")
    with pytest.raises(AnswerSourceError, match=r"empty: the folder has no \*\.jsonl, \*\.json files"):
        read_answers(tmp_path / "empty")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    with pytest.raises(AnswerSourceError, match=r"blank\.jsonl: the file holds no answers"):
        read_answers(blank)
    questions = jsonl(tmp_path / "question.jsonl", [{"question_id": 81, "category": "x", "turns": ["q"]}])
    with pytest.raises(AnswerSourceError, match=r"question\.jsonl: cannot tell the answer format.*'turns'"):
        read_answers(questions)
    with pytest.raises(AnswerSourceError, match=r"unknown answer format 'mtbench'"):
        read_answers(questions, "mtbench")
    with pytest.raises(AnswerSourceError, match=r"question\.jsonl:1: missing field 'choices'"):
        read_answers(questions, "fastchat")
