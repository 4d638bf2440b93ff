"""FastChat's MT-bench judge prompts used as FastChat uses them.

FastChat (fastchat/llm_judge) picks the prompt by category and turn (gen_judgment.make_judge_single /
make_judge_pairwise) and fills it with `prompt_template.format(...)` using fixed keyword arguments
(common.run_judge_single / run_judge_pair). The expected prompts below are built here by formatting the
templates of the real judge_prompts.jsonl with those keyword arguments written out, then compared with what
the module renders. Real data is read from ../shared/datasets/mt_bench and skipped when absent; the checks
of bad files and of the keyword mapping use small files written here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from llmfeedback_assets.judging import fastchat, templates
from llmfeedback_assets.judging.fastchat import JudgePromptsError, load_judge_prompts

MT_BENCH = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "mt_bench"
PROMPTS_FILE = MT_BENCH / "judge_prompts.jsonl"

# FastChat's keyword arguments per prompt (run_judge_single / run_judge_pair), restated.
FASTCHAT_KEYS = {
    "single-v1": {"question", "answer"},
    "single-math-v1": {"question", "answer", "ref_answer_1"},
    "single-v1-multi-turn": {"question_1", "question_2", "answer_1", "answer_2"},
    "single-math-v1-multi-turn": {"question_1", "question_2", "answer_1", "answer_2", "ref_answer_1",
                                  "ref_answer_2"},
    "pair-v2": {"question", "answer_a", "answer_b"},
    "pair-math-v1": {"question", "answer_a", "answer_b", "ref_answer_1"},
    "pair-v2-multi-turn": {"question_1", "question_2", "answer_a_1", "answer_b_1", "answer_a_2",
                           "answer_b_2"},
    "pair-math-v1-multi-turn": {"question_1", "question_2", "answer_a_1", "answer_b_1", "answer_a_2",
                                "answer_b_2", "ref_answer_1", "ref_answer_2"},
}


def _needs_mt_bench():
    if not (PROMPTS_FILE.exists() and (MT_BENCH / "question.jsonl").exists()
            and (MT_BENCH / "reference_answer" / "gpt-4.jsonl").exists()):
        pytest.skip("../shared/datasets/mt_bench is absent")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def mt():
    _needs_mt_bench()
    raw = {p["name"]: p for p in _jsonl(PROMPTS_FILE)}
    questions = {q["question_id"]: q for q in _jsonl(MT_BENCH / "question.jsonl")}
    gpt4 = _jsonl(MT_BENCH / "reference_answer" / "gpt-4.jsonl")
    refs = {r["question_id"]: r["choices"][0]["turns"] for r in gpt4}
    return load_judge_prompts(PROMPTS_FILE), raw, questions, refs


# ---- choosing the prompt ------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "turn", "category", "has_ref", "expected"), [
    ("single", 1, "writing", False, "single-v1"),
    ("single", 2, "writing", False, "single-v1-multi-turn"),
    ("single", 1, "math", True, "single-math-v1"),
    ("single", 2, "math", True, "single-math-v1-multi-turn"),
    ("single", 1, "reasoning", True, "single-math-v1"),
    ("single", 2, "coding", True, "single-math-v1-multi-turn"),
    ("single", 1, "arena-hard-200", True, "single-math-v1"),
    ("pairwise", 1, "roleplay", False, "pair-v2"),
    ("pairwise", 2, "roleplay", False, "pair-v2-multi-turn"),
    ("pairwise", 1, "math", True, "pair-math-v1"),
    ("pairwise", 2, "math", True, "pair-math-v1-multi-turn"),
    # A reference outside NEED_REF_CATS is ignored, as FastChat ignores question.jsonl's `reference`.
    ("single", 1, "stem", True, "single-v1"),
    ("pairwise", 2, "extraction", True, "pair-v2-multi-turn"),
    # No reference for a category that needs one: FastChat would stop; we fall back to the plain prompt.
    ("single", 1, "math", False, "single-v1"),
    ("pairwise", 2, "coding", False, "pair-v2-multi-turn"),
    ("single", 1, None, False, "single-v1"),
    # FastChat has no prompt past turn 2: our own template is used.
    ("single", 3, "writing", False, None),
    ("pairwise", 3, "math", True, None),
])
def test_choose_follows_fastchat(tmp_path, mode, turn, category, has_ref, expected):
    prompts = load_judge_prompts(_write(tmp_path, _synthetic()))
    name = prompts.choose(mode, turn, category, has_reference=has_ref)
    assert name == expected
    if name is not None:
        assert fastchat.is_reference_guided(prompts, name) == ("math" in name)


def test_choose_rejects_bad_arguments(tmp_path):
    prompts = load_judge_prompts(_write(tmp_path, _synthetic()))
    with pytest.raises(ValueError, match="mode"):
        prompts.choose("ranking", 1, "writing", False)
    with pytest.raises(ValueError, match="turn"):
        prompts.choose("single", 0, "writing", False)


def test_need_ref_cats_are_fastchats():
    assert set(fastchat.NEED_REF_CATS) == {"math", "reasoning", "coding", "arena-hard-200"}


# ---- rendering real MT-bench questions ----------------------------------------------------------------


def _question(questions: dict, category: str) -> dict:
    return next(q for q in questions.values() if q["category"] == category)


def test_real_file_loads_with_all_eight_prompts(mt):
    prompts, raw, _, _ = mt
    assert set(FASTCHAT_KEYS) <= set(prompts.prompts)
    for name, prompt in prompts.prompts.items():
        assert prompt.prompt_template == raw[name]["prompt_template"]
        assert prompt.system_prompt == raw[name]["system_prompt"]


def test_writing_question_renders_as_fastchat(mt):
    prompts, raw, questions, _ = mt
    q = _question(questions, "writing")
    q1, q2 = q["turns"]
    a = ["First answer by A {with braces}.", "Second answer by A."]
    b = ["First answer by B.", "Second answer by B, longer.\n\n### A heading"]
    cases = [
        ("single", 1, raw["single-v1"]["prompt_template"].format(question=q1, answer=a[0])),
        ("single", 2, raw["single-v1-multi-turn"]["prompt_template"].format(
            question_1=q1, question_2=q2, answer_1=a[0], answer_2=a[1])),
        ("pairwise", 1, raw["pair-v2"]["prompt_template"].format(question=q1, answer_a=a[0], answer_b=b[0])),
        ("pairwise", 2, raw["pair-v2-multi-turn"]["prompt_template"].format(
            question_1=q1, question_2=q2, answer_a_1=a[0], answer_b_1=b[0], answer_a_2=a[1],
            answer_b_2=b[1])),
    ]
    expected_names = {("single", 1): "single-v1", ("single", 2): "single-v1-multi-turn",
                      ("pairwise", 1): "pair-v2", ("pairwise", 2): "pair-v2-multi-turn"}
    for mode, turn, expected_user in cases:
        name = prompts.choose(mode, turn, q["category"], has_reference=False)
        assert name == expected_names[mode, turn]
        if mode == "single":
            messages = fastchat.render_single(prompts, name, q["turns"], a[:turn], turn, None)
        else:
            messages = fastchat.render_pair(prompts, name, q["turns"], a[:turn], b[:turn], turn, [])
        assert messages == [{"role": "system", "content": raw[name]["system_prompt"]},
                            {"role": "user", "content": expected_user}]


def test_math_question_renders_with_gpt4_references_as_fastchat(mt):
    prompts, raw, questions, refs = mt
    q = _question(questions, "math")
    q1, q2 = q["turns"]
    r1, r2 = refs[q["question_id"]]  # FastChat reads reference_answer/<judge>.jsonl, not question.jsonl
    a = ["A computes 3.", "A then says 5pi."]
    b = ["B computes 0.", "B says there is no circle."]
    cases = [
        ("single", 1, "single-math-v1",
         raw["single-math-v1"]["prompt_template"].format(question=q1, answer=a[0], ref_answer_1=r1)),
        ("single", 2, "single-math-v1-multi-turn", raw["single-math-v1-multi-turn"]["prompt_template"].format(
            question_1=q1, question_2=q2, answer_1=a[0], answer_2=a[1], ref_answer_1=r1, ref_answer_2=r2)),
        ("pairwise", 1, "pair-math-v1", raw["pair-math-v1"]["prompt_template"].format(
            question=q1, answer_a=a[0], answer_b=b[0], ref_answer_1=r1)),
        ("pairwise", 2, "pair-math-v1-multi-turn", raw["pair-math-v1-multi-turn"]["prompt_template"].format(
            question_1=q1, question_2=q2, answer_a_1=a[0], answer_b_1=b[0], answer_a_2=a[1], answer_b_2=b[1],
            ref_answer_1=r1, ref_answer_2=r2)),
    ]
    for mode, turn, expected_name, expected_user in cases:
        name = prompts.choose(mode, turn, q["category"], has_reference=True)
        assert name == expected_name
        assert fastchat.is_reference_guided(prompts, name)
        if mode == "single":
            messages = fastchat.render_single(prompts, name, q["turns"], a[:turn], turn, [r1, r2])
        else:
            messages = fastchat.render_pair(prompts, name, q["turns"], a[:turn], b[:turn], turn, [r1, r2])
        assert messages[0] == {"role": "system", "content": raw[name]["system_prompt"]}
        assert messages[1] == {"role": "user", "content": expected_user}
        assert len(messages) == 2
        assert r1 in expected_user and (turn == 1) == (r2 not in expected_user)


def test_every_mt_bench_question_round_trips_through_detect_and_extract(mt):
    prompts, _, questions, refs = mt
    seen = set()
    for qid, q in questions.items():
        ref = refs.get(qid)
        for turn in (1, 2):
            a = [f"A answers: {t[:30]}\n\n### User:\nnot a real turn" for t in q["turns"]]
            b = [f"B answers [[A]] {{x}}: {t[-20:]}" for t in q["turns"]]
            for mode in ("single", "pairwise"):
                name = prompts.choose(mode, turn, q["category"], ref is not None)
                seen.add(name)
                if mode == "single":
                    messages = fastchat.render_single(prompts, name, q["turns"], a[:turn], turn, ref)
                    judged = (a[turn - 1],)
                else:
                    messages = fastchat.render_pair(prompts, name, q["turns"], a[:turn], b[:turn], turn, ref)
                    judged = (a[turn - 1], b[turn - 1])
                joined = "\n\n".join(m["content"] for m in messages)
                for text in (joined, messages[-1]["content"]):
                    assert fastchat.detect(text) == mode
                    assert fastchat.extract(text) == (q["turns"][turn - 1], judged)
                parsed = fastchat.parse_rendered(joined)
                assert parsed.turn == turn
                assert parsed.questions == tuple(q["turns"][:turn])
                assert parsed.references == (tuple(ref[:turn]) if "math" in name else ())
    assert seen == set(FASTCHAT_KEYS)


def test_reading_back_takes_linear_time_on_delimiter_floods(mt):
    prompts = mt[0]
    flood = "\n\n### User:\nx\n\n### Assistant A:\ny\n[The End of Assistant A's Answer]\n\n" * 3000
    questions = ["Q1 " + flood, "Q2 " + flood]
    answers_a, answers_b = [flood + "a1", "a2" + flood], [flood, "b2"]
    started = time.perf_counter()
    refs = ["r1", "r2"]
    for name in FASTCHAT_KEYS:
        turn = 2 if "multi-turn" in name else 1
        if name.startswith("single"):
            messages = fastchat.render_single(prompts, name, questions, answers_a[:turn], turn, refs)
        else:
            a, b = answers_a[:turn], answers_b[:turn]
            messages = fastchat.render_pair(prompts, name, questions, a, b, turn, refs)
        fastchat.parse_rendered(messages[-1]["content"])  # ambiguous: any reading will do, but quickly
    assert time.perf_counter() - started < 2.0


def test_detect_ignores_our_own_templates_and_plain_text():
    history = [templates.Turn("What is 2+2?", "4")]
    ours = [templates.render_single(history, "And 3+3?", "6", "6"),
            templates.render_pair(history, history, "And 3+3?", "6", "7", None)]
    for messages in ours:
        assert fastchat.detect("\n\n".join(m["content"] for m in messages)) is None
    assert fastchat.detect("Please write a poem about the sea. Rating: [[5]]") is None
    assert fastchat.extract("") is None


# ---- the keyword mapping, on a synthetic file ---------------------------------------------------------

def _synthetic() -> list[dict]:
    """A valid prompts file whose templates print every keyword FastChat passes (as name=value lines)."""
    out = []
    for name, keys in FASTCHAT_KEYS.items():
        single = name.startswith("single")
        out.append({"name": name, "type": "single" if single else "pairwise",
                    "system_prompt": f"system of {name}",
                    "prompt_template": "\n".join(f"{k}={{{k}}}" for k in sorted(keys)),
                    "output_format": "[[rating]]" if single else "[[A]]", "description": "ignored"})
    return out


def _write(tmp_path: Path, records: list, name: str = "judge_prompts.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
                    encoding="utf-8")
    return path


def _lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_keywords_map_to_the_right_turns_and_sides(tmp_path):
    prompts = load_judge_prompts(_write(tmp_path, _synthetic()))
    qs, a, b, r = ["Q1", "Q2", "Q3"], ["A1", "A2", "A3"], ["B1", "B2", "B3"], ["R1", "R2", "R3"]
    expected = {
        "single-v1": {"question": "Q1", "answer": "A1"},
        "single-math-v1": {"question": "Q1", "answer": "A1", "ref_answer_1": "R1"},
        "single-v1-multi-turn": {"question_1": "Q1", "question_2": "Q2", "answer_1": "A1", "answer_2": "A2"},
        "single-math-v1-multi-turn": {"question_1": "Q1", "question_2": "Q2", "answer_1": "A1",
                                      "answer_2": "A2", "ref_answer_1": "R1", "ref_answer_2": "R2"},
        "pair-v2": {"question": "Q1", "answer_a": "A1", "answer_b": "B1"},
        "pair-math-v1": {"question": "Q1", "answer_a": "A1", "answer_b": "B1", "ref_answer_1": "R1"},
        "pair-v2-multi-turn": {"question_1": "Q1", "question_2": "Q2", "answer_a_1": "A1", "answer_b_1": "B1",
                               "answer_a_2": "A2", "answer_b_2": "B2"},
        "pair-math-v1-multi-turn": {"question_1": "Q1", "question_2": "Q2", "answer_a_1": "A1",
                                    "answer_b_1": "B1", "answer_a_2": "A2", "answer_b_2": "B2",
                                    "ref_answer_1": "R1", "ref_answer_2": "R2"},
    }
    for name, want in expected.items():
        turn = 2 if "multi-turn" in name else 1
        if name.startswith("single"):
            messages = fastchat.render_single(prompts, name, qs, a[:turn], turn, r)
        else:
            messages = fastchat.render_pair(prompts, name, qs, a[:turn], b[:turn], turn, r)
        assert messages[0] == {"role": "system", "content": f"system of {name}"}
        assert _lines(messages[1]["content"]) == want, name


def test_empty_system_prompt_sends_no_system_message(tmp_path):
    records = _synthetic()
    records[4]["system_prompt"] = ""  # pair-v2; FastChat's OpenAI request then has no system message
    prompts = load_judge_prompts(_write(tmp_path, records))
    messages = fastchat.render_pair(prompts, "pair-v2", ["Q"], ["a"], ["b"], 1, None)
    assert [m["role"] for m in messages] == ["user"]


def test_render_rejects_inputs_fastchat_could_not_use(tmp_path):
    prompts = load_judge_prompts(_write(tmp_path, _synthetic()))
    with pytest.raises(ValueError, match="reference"):
        fastchat.render_single(prompts, "single-math-v1", ["Q"], ["A"], 1, None)
    with pytest.raises(ValueError, match="reference"):
        fastchat.render_pair(prompts, "pair-math-v1-multi-turn", ["Q1", "Q2"], ["A1", "A2"], ["B1", "B2"], 2,
                             ["R1"])
    with pytest.raises(ValueError, match="answers"):
        fastchat.render_single(prompts, "single-v1-multi-turn", ["Q1", "Q2"], ["A1"], 2, None)
    with pytest.raises(ValueError, match="turn"):
        fastchat.render_single(prompts, "single-v1", ["Q1", "Q2"], ["A1", "A2"], 2, None)
    with pytest.raises(ValueError, match="pairwise"):
        fastchat.render_single(prompts, "pair-v2", ["Q"], ["A"], 1, None)
    with pytest.raises(JudgePromptsError, match="nope"):
        fastchat.render_single(prompts, "nope", ["Q"], ["A"], 1, None)


# ---- bad files ----------------------------------------------------------------------------------------


def _error(tmp_path: Path, records: list) -> str:
    path = _write(tmp_path, records)
    with pytest.raises(JudgePromptsError) as info:
        load_judge_prompts(path)
    return str(info.value)


def test_missing_prompts_are_named(tmp_path):
    records = [r for r in _synthetic() if r["name"] not in ("pair-math-v1", "single-v1-multi-turn")]
    message = _error(tmp_path, records)
    assert message.startswith(str(tmp_path / "judge_prompts.jsonl"))
    listed = message.split("MT-bench:")[-1].replace(",", " ").split()
    assert sorted(listed) == ["pair-math-v1", "single-v1-multi-turn"]


@pytest.mark.parametrize(("template", "why"), [
    ("{question} {answer} {answer_2}", "answer_2"),  # FastChat passes no answer_2 to a turn-1 prompt
    ("{question}", "answer"),  # the answer would never reach the judge
    ("{question!r} {answer}", "plain names"),
    ("{question:>10} {answer}", "plain names"),
    ("{} {answer}", "plain names"),
    ("{question {answer}", "malformed"),
])
def test_bad_placeholders_name_file_line_and_field(tmp_path, template, why):
    records = _synthetic()
    single_v1 = next(i for i, r in enumerate(records) if r["name"] == "single-v1")
    records[single_v1]["prompt_template"] = template
    message = _error(tmp_path, records)
    assert f"judge_prompts.jsonl:{single_v1 + 1}:" in message
    assert "prompt_template" in message and why in message


def test_invalid_json_line_names_file_and_line(tmp_path):
    records = _synthetic()
    records.insert(2, '{"name": "broken",')
    message = _error(tmp_path, records)
    assert "judge_prompts.jsonl:3:" in message and "invalid JSON" in message


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r.pop("output_format"), "output_format"),
    (lambda r: r.update(system_prompt=None), "system_prompt"),
    (lambda r: r.update(type="ranking"), "type"),
    (lambda r: r.update(type="pairwise"), "type"),  # single-v1 declared as pairwise
    (lambda r: r.update(output_format="[[A]]"), "output_format"),
    (lambda r: r.update(name=""), "name"),
])
def test_bad_fields_name_file_line_and_field(tmp_path, change, field):
    records = _synthetic()
    i = next(i for i, r in enumerate(records) if r["name"] == "single-v1")
    change(records[i])
    message = _error(tmp_path, records)
    assert f"judge_prompts.jsonl:{i + 1}:" in message and f"'{field}'" in message


def test_duplicate_and_non_object_lines_are_errors(tmp_path):
    records = _synthetic()
    message = _error(tmp_path, records + [records[0]])
    assert f"judge_prompts.jsonl:{len(records) + 1}:" in message and "line 1" in message
    message = _error(tmp_path, ["[1, 2]"] + records)
    assert "judge_prompts.jsonl:1:" in message and "object" in message


def test_extra_prompts_and_blank_lines_are_accepted(tmp_path):
    extra = {"name": "single-v1-custom", "type": "single", "system_prompt": "",
             "prompt_template": "{whatever}", "output_format": "[[rating]]"}
    prompts = load_judge_prompts(_write(tmp_path, [extra, "", *_synthetic()]))
    assert prompts["single-v1"].line == 3
    assert prompts.choose("single", 1, "writing", False) == "single-v1"
