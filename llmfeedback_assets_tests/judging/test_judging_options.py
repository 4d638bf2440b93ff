"""FastChat's generation and judging options through the real gateway on the simulator: num_choices and the
judged choice, per-category temperatures, conversations of more than two turns, pair selection and
judges that skip their own family."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from llmfeedback_assets.config import ConfigError, load_config
from llmfeedback_assets.judging.pipeline import (
    JudgeOptions,
    choose_pairs,
    generate_responses,
    judge_responses,
)
from llmfeedback_assets.judging.spine import judge_options, selected_pairs
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.project import write_config

RESPONDERS = ["alpha", "bravo", "charlie", "delta"]


class SpyGateway(Gateway):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.sent = []

    def run(self, requests):
        self.sent.extend(requests)
        return super().run(requests)


def _world(tmp_path, **overrides):
    cfg = load_config(write_config(tmp_path, n_prompts=3, **overrides))
    wh = Warehouse(cfg.database_path)
    return cfg, SpyGateway(cfg, wh)


def _prompts(*rows: tuple[str, str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{"prompt_id": pid, "source_file": "x", "source_id": pid, "category": cat,
                          "turns": turns, "reference": [], "n_turns": len(turns)}
                         for pid, cat, turns in rows])


def test_num_choices_and_fastchat_temperatures(tmp_path):
    cfg, gw = _world(tmp_path, generation={"num_choices": 2, "temperature_by_category": "fastchat"})
    prompts = _prompts(("w", "writing", ["Write a poem."]), ("m", "math", ["What is 2+2?"]),
                       ("s", "stem", ["Explain entropy."]), ("o", "general", ["Say hi."]))
    frame, _ = generate_responses(gw, prompts, ["alpha"], cfg.generation.num_choices,
                                  cfg.generation.temperature_for)
    assert sorted(frame["sample"]) == [0, 0, 0, 0, 1, 1, 1, 1] and (frame["status"] == "ok").all()
    by_question = {r.messages[-1][1]: r.temperature for r in gw.sent}
    assert by_question == {"Write a poem.": 0.7, "What is 2+2?": 0.0, "Explain entropy.": 0.1, "Say hi.": 0.7}
    assert {r.sample for r in gw.sent} == {0, 1}


def test_a_mapping_of_temperatures_with_a_default(tmp_path):
    cfg, _ = _world(tmp_path, generation={"temperature_by_category": {"math": 0.2, "default": 0.9}})
    assert cfg.generation.temperature_for("math") == 0.2 and cfg.generation.temperature_for("poetry") == 0.9
    cfg, _ = _world(tmp_path / "none")
    assert cfg.generation.temperature_for("math") is None  # each model keeps its own temperature


def test_the_judged_choice_is_the_one_graded(tmp_path):
    cfg, gw = _world(tmp_path)
    prompts = _prompts(("p", "general", ["Explain the tides."]))
    frame, _ = generate_responses(gw, prompts, ["alpha", "bravo"], 3)
    second = frame[frame["sample"] == 2].set_index("responder_model")["response_id"]
    judged, _ = judge_responses(gw, prompts, frame, "judge-clean",
                                JudgeOptions(modes=("single",), judged_choice=2))
    assert dict(zip(judged["model_a"], judged["response_a_id"], strict=True)) == second.to_dict()


def test_conversations_of_more_than_two_turns_are_answered_and_judged(tmp_path):
    cfg, gw = _world(tmp_path)
    turns = ["Plan a trip to Rome.", "Now make it cheaper.", "Add a day in Florence.", "Summarise the plan."]
    prompts = _prompts(("long", "general", turns))
    frame, _ = generate_responses(gw, prompts, ["alpha", "bravo"])
    assert sorted(set(frame["turn"])) == [1, 2, 3, 4] and (frame["status"] == "ok").all()
    fourth = [r for r in gw.sent if r.model == "alpha" and len(r.messages) == 7]
    assert len(fourth) == 1 and [c for role, c in fourth[0].messages if role == "user"] == turns
    judged, _ = judge_responses(gw, prompts, frame, "judge-clean", JudgeOptions())
    counts = judged.groupby(["mode", "turn"]).size()
    assert all(counts[("single", t)] == 2 and counts[("pairwise", t)] == 1 for t in (1, 2, 3, 4))
    assert (judged["parse_status"] == "ok").all()


def _answers(models: list[str], prompts: int = 2) -> pd.DataFrame:
    rows = []
    for p in range(prompts):
        for i, m in enumerate(models):
            rows.append({"response_id": f"{p}-{m}", "prompt_id": f"p{p}", "responder_model": m,
                         "turn": 1, "sample": 0, "text": f"answer {i} " + "x" * (7 * i), "status": "ok",
                         "error": None,
                         "request_key": None, "source": "generated", "source_line": None})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n", [6, 12, 24])
def test_pairwise_calls_grow_linearly_under_baseline_and_llmfao(n):
    models = [f"m{i:02d}" for i in range(n)]
    responses = _answers(models)
    assert choose_pairs(responses, "all") is None
    baseline = choose_pairs(responses, "baseline", baseline="m00")
    assert len(baseline) == 2 * (n - 1) and set(baseline["model_b"]) == {"m00"}
    llmfao = choose_pairs(responses, "llmfao", k=3)
    assert 2 * (n - 1) <= len(llmfao) <= 2 * 3 * n


def test_only_the_chosen_pairs_are_judged(tmp_path):
    cfg, gw = _world(tmp_path, judging={"modes": ["pairwise"], "pairs": "baseline",
                                        "baseline_model": "delta"})
    prompts = _prompts(("p", "general", ["Explain the tides."]), ("q", "general", ["Explain the seasons."]))
    frame, _ = generate_responses(gw, prompts, RESPONDERS)
    options = judge_options(cfg, cfg.judge_roles("judge-clean"), frame)
    judged, _ = judge_responses(gw, prompts, frame, "judge-clean", options)
    assert sorted(judged["model_a"]) == sorted(["alpha", "bravo", "charlie"] * 2)
    assert set(judged["model_b"]) == {"delta"}
    gw.sent.clear()
    missing = frame[frame["responder_model"] != "delta"]
    with pytest.raises(ValueError, match="baseline_model 'delta' has no answers"):
        selected_pairs(cfg, missing)


def test_a_judge_skips_its_own_family_unless_self_judging_is_allowed(tmp_path):
    path = write_config(tmp_path, n_prompts=2)
    raw = yaml.safe_load(path.read_text())
    for m in raw["models"]:
        if m["name"] in ("alpha", "judge-clean"):
            m["family"] = "acme"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    gw = SpyGateway(cfg, Warehouse(cfg.database_path))
    prompts = _prompts(("p", "general", ["Explain the tides."]))
    frame, _ = generate_responses(gw, prompts, RESPONDERS)
    judged, _ = judge_responses(gw, prompts, frame, "judge-clean",
                                judge_options(cfg, cfg.judge_roles("judge-clean"), frame))
    assert "alpha" not in set(judged["model_a"]) | set(judged["model_b"].dropna())
    raw["judging"] = {"allow_self_judging": True}
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    judged, _ = judge_responses(gw, prompts, frame, "judge-clean",
                                judge_options(cfg, cfg.judge_roles("judge-clean"), frame))
    assert "alpha" in set(judged["model_a"])


def test_pair_settings_are_checked_when_the_config_loads(tmp_path):
    with pytest.raises(ConfigError, match="baseline needs judging.baseline_model"):
        load_config(write_config(tmp_path, judging={"pairs": "baseline"}))
    with pytest.raises(ConfigError, match="renamed judging.pairs"):
        load_config(write_config(tmp_path, judging={"pairwise_pairs": "baseline"}))


def test_fastchat_judge_prompts_are_sent_byte_identical_and_the_simulator_answers_them(tmp_path):
    import json

    from llmfeedback_assets.ingest import read_prompt_file
    from llmfeedback_assets.ingest.imports import attach_references
    from llmfeedback_assets.ingest.records import PROMPT_COLUMNS
    from llmfeedback_assets.judging.fastchat import load_judge_prompts
    from llmfeedback_assets_tests.support.project import dataset

    folder = dataset("mt_bench")
    records, _ = read_prompt_file(folder / "question.jsonl")
    prompts = pd.DataFrame([r for r in records if r["source_id"] in ("81", "111")], columns=PROMPT_COLUMNS)
    prompts, rejected = attach_references(prompts, [folder / "reference_answer" / "gpt-4.jsonl"])
    assert len(prompts) == 2 and len(rejected) == 29  # 30 references; 29 name questions not loaded here
    cfg, gw = _world(tmp_path)
    frame, _ = generate_responses(gw, prompts, ["alpha", "bravo"])
    gw.sent.clear()
    options = JudgeOptions(fastchat=load_judge_prompts(folder / "judge_prompts.jsonl"))
    judged, _ = judge_responses(gw, prompts, frame, "judge-clean", options)
    assert (judged["parse_status"] == "ok").all()  # the simulated judge read FastChat's layout
    names = judged.set_index(["mode", "turn", "prompt_id"])["prompt_name"]
    math = prompts.set_index("source_id").loc["111"]
    writing = prompts.set_index("source_id").loc["81"]
    assert names[("single", 2, math["prompt_id"])].iloc[0] == "single-math-v1-multi-turn"
    assert names[("pairwise", 1, writing["prompt_id"])].iloc[0] == "pair-v2"
    assert judged[judged["prompt_id"] == math["prompt_id"]]["reference_used"].all()

    lines = (folder / "judge_prompts.jsonl").read_text().splitlines()
    templates = {t["name"]: t for t in map(json.loads, lines)}
    answers = frame[frame["prompt_id"] == math["prompt_id"]].set_index(["responder_model", "turn"])["text"]
    expected = templates["single-math-v1-multi-turn"]["prompt_template"].format(
        question_1=math["turns"][0], question_2=math["turns"][1],
        answer_1=answers[("alpha", 1)], answer_2=answers[("alpha", 2)],
        ref_answer_1=math["reference"][0], ref_answer_2=math["reference"][1])
    sent = [r for r in gw.sent if r.messages[-1][1] == expected]
    assert len(sent) == 1
    assert sent[0].messages[0] == ("system", templates["single-math-v1-multi-turn"]["system_prompt"])


@pytest.mark.parametrize("pairs, pairwise_requests", [("all", 2 * 6 * 2), ("baseline", 2 * 3 * 2)])
def test_the_cost_estimate_prices_the_pairs_that_will_be_judged(tmp_path, capsys, pairs, pairwise_requests):
    from llmfeedback_assets import cli

    judging = {"modes": ["pairwise"], "pairs": pairs, "baseline_model": "delta"}
    path = write_config(tmp_path, n_prompts=3, judging=judging)
    cfg = load_config(path)
    wh = Warehouse(cfg.database_path)
    prompts = _prompts(("p", "general", ["Explain the tides."]), ("q", "general", ["Explain the seasons."]))
    frame, _ = generate_responses(Gateway(cfg, wh), prompts, RESPONDERS)
    wh.replace_table("prompts", prompts)
    wh.replace_table("responses", frame)
    assert cli.main(["--config", str(path), "estimate-cost", "--judge", "judge-clean"]) == 0
    total = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("total"))
    assert total.split()[1] == str(pairwise_requests)  # both orders of each chosen pair
