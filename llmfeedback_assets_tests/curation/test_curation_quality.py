"""Quality-judging prompt and reply parser, score classes, plots, JSONL export, the simulated quality
judge."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmfeedback_assets.curation import quality
from llmfeedback_assets.curation.export import training_records, write_jsonl
from llmfeedback_assets.curation.plots import score_histogram_png, transition_heatmap_png
from llmfeedback_assets.curation.quality import KEYS, parse_quality_reply, render_quality_prompt, to_class

FULL = {"Rarity": 3.0, "Complexity": 6.0, "Informativeness": 7.0, "Overall rating": 8.0}


def test_prompt_holds_the_example_in_defused_blocks():
    msgs = render_quality_prompt("Summarise <</RESPONSE>> this", "a long text", "A summary.")
    assert [m["role"] for m in msgs] == ["system", "user"]
    system, user = msgs[0]["content"], msgs[1]["content"]
    for key in KEYS:
        assert f'"{key}"' in system
    assert "1 (lowest) to 10 (highest)" in system
    assert ("<<INSTRUCTION>>" in user and "<<INPUT>>\na long text" in user
            and "<<RESPONSE>>\nA summary." in user)
    assert user.count("<</RESPONSE>>") == 1  # the delimiter inside the instruction was defused


@pytest.mark.parametrize("empty", [None, "", "   ", "nan", "NaN"])
def test_prompt_leaves_out_an_empty_input(empty):
    assert "<<INPUT>>" not in render_quality_prompt("Do it", empty, "Done.")[1]["content"]


@pytest.mark.parametrize("reply", [
    '{"Rarity": 3, "Complexity": 6, "Informativeness": 7, "Overall rating": 8}',
    '```json\n{"Rarity": 3, "Complexity": 6, "Informativeness": 7, "Overall rating": 8}\n```',
    'Here is my assessment:\n{"Rarity": "3", "Complexity": "6/10", "Informativeness": 7.0, '
    '"Overall rating": "8 out of 10"}\nThe response is solid.',
    "{'Rarity': 3, 'Complexity': 6, 'Informativeness': 7, 'Overall rating': 8,}",
    '{"rarity": 3, "complexity": 6, "informativeness": 7, "overall_rating": 8}',
    '{"ratings": {"Rarity": 3, "Complexity": 6, "Informativeness": 7, "Overall Rating": 8}}',
    "Rarity: 3\nComplexity: 6/10\nInformativeness: 7\n**Overall rating**: 8",
])
def test_parser_reads_common_reply_shapes(reply):
    assert parse_quality_reply(reply) == (FULL, quality.OK)


def test_parser_statuses():
    assert parse_quality_reply(None) == (None, quality.CALL_FAILED)
    assert parse_quality_reply("  \n") == (None, quality.EMPTY)
    assert parse_quality_reply("I cannot rate this.") == (None, quality.NO_JSON)
    assert parse_quality_reply('{"Rarity": 3, "Complexity": 4}') == (None, quality.MISSING_OVERALL)
    assert parse_quality_reply('{"Overall rating": 11}') == (None, quality.OUT_OF_RANGE)
    assert parse_quality_reply('{"Overall rating": 0}') == (None, quality.OUT_OF_RANGE)
    assert parse_quality_reply('{"Overall rating": "great"}') == (None, quality.INVALID_VALUE)
    assert parse_quality_reply('{"Overall rating": true}') == (None, quality.INVALID_VALUE)
    partial = parse_quality_reply('{"Rarity": 42, "Overall rating": 6.5}')
    assert partial == ({"Overall rating": 6.5}, quality.PARTIAL)


def test_parser_takes_the_object_that_holds_the_rating():
    reply = 'Example format: {"note": "x"}. My rating: {"Rarity": 3, "Complexity": 6, ' \
            '"Informativeness": 7, "Overall rating": 8}'
    assert parse_quality_reply(reply) == (FULL, quality.OK)


def test_nested_aspect_objects_do_not_leak_into_the_overall_rating():
    reply = '{"Complexity": {"rating": 6, "why": "x"}, "Overall rating": 8}'
    ratings, status = parse_quality_reply(reply)
    assert ratings == {"Complexity": 6.0, "Overall rating": 8.0} and status == quality.PARTIAL


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parser_never_raises_on_arbitrary_text(text):
    ratings, status = parse_quality_reply(text)
    assert status in {quality.OK, quality.PARTIAL, quality.EMPTY, quality.NO_JSON, quality.MISSING_OVERALL,
                      quality.INVALID_VALUE, quality.OUT_OF_RANGE}
    if ratings is not None:
        assert 1.0 <= ratings["Overall rating"] <= 10.0
        assert set(ratings) <= set(KEYS)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 10), min_size=4, max_size=4), st.text(alphabet="abc .,:\n", max_size=60),
       st.text(alphabet="abc .,:\n", max_size=60), st.booleans())
def test_parser_recovers_ratings_wrapped_in_prose(values, before, after, fenced):
    body = json.dumps(dict(zip(KEYS, values, strict=True)))
    if fenced:
        body = f"```json\n{body}\n```"
    ratings, status = parse_quality_reply(f"{before}{body}{after}")
    assert status == quality.OK
    assert ratings == {k: float(v) for k, v in zip(KEYS, values, strict=True)}


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                    max_leaves=12))
def test_parser_never_raises_on_arbitrary_json(value):
    ratings, status = parse_quality_reply(json.dumps(value))
    assert ratings is None or 1.0 <= ratings["Overall rating"] <= 10.0


def test_to_class_compresses_to_six_classes():
    assert [to_class(v) for v in range(1, 11)] == [0, 0, 0, 0, 1, 2, 3, 4, 5, 5]
    assert to_class(6.5) == 3 and to_class(6.49) == 2
    assert to_class(7, low=6, high=8) == 1
    for bad in (float("nan"), None, True):
        with pytest.raises(ValueError):
            to_class(bad)
    with pytest.raises(ValueError, match="below"):
        to_class(5, low=9, high=4)


def test_simulated_judge_answers_the_quality_template_with_its_transition_matrix():
    from llmfeedback_assets.config import ModelSpec, SimJudgeSpec
    from llmfeedback_assets.llm import sim

    always_three = [[0.0] * 10 for _ in range(10)]
    for row in always_three:
        row[2] = 1.0
    judge = ModelSpec(name="judge", provider="sim", sim_judge=SimJudgeSpec(transition_matrix=always_three))
    msgs = render_quality_prompt("Explain tides.", None, "The moon pulls the oceans.")
    reply = sim.simulate(judge, [(m["role"], m["content"]) for m in msgs], "key-1")
    ratings, status = parse_quality_reply(reply)
    assert status == quality.OK and ratings["Overall rating"] == 3.0


def test_plots_are_png_images():
    heat = transition_heatmap_png(np.eye(6) * 0.7 + 0.05)
    hist = score_histogram_png([0, 1, 1, 5, -1], [0, 1, 2, 5, -1], 6)
    assert heat[:8] == b"\x89PNG\r\n\x1a\n" and hist[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="square"):
        transition_heatmap_png(np.ones((2, 3)))


def test_training_jsonl_round_trip(tmp_path):
    recs = training_records(["Add 2+2", "Name a colour"], ["", "nan"], ["4", "Blue"], ids=["a", "b"],
                            extra={"score": np.array([5, 4])})
    assert recs[0] == {"messages": [{"role": "user", "content": "Add 2+2"},
                                    {"role": "assistant", "content": "4"}], "id": "a", "score": 5}
    alpaca = training_records(["Translate"], ["bonjour"], ["hello"], fmt="alpaca")
    assert alpaca == [{"instruction": "Translate", "input": "bonjour", "output": "hello"}]
    path = tmp_path / "out" / "selected.jsonl"
    assert write_jsonl(recs, path) == 2
    assert [json.loads(line) for line in path.read_text().splitlines()] == recs
    with pytest.raises(ValueError, match="responses has 1 entries"):
        training_records(["a", "b"], ["", ""], ["x"])
