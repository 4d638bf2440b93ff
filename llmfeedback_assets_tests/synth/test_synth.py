"""Personas, synthetic conversations, conversation judgments and the cost estimate, on the simulator."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmfeedback_assets import synth
from llmfeedback_assets.config import ConfigError, load_config
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.synth import templates
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.synth import DEAD, PERSONAS, SYNTH_MODELS, synth_config


def _setup(root: Path, **kw):
    cfg = load_config(synth_config(root, **kw))
    wh = Warehouse(cfg.database_path)
    return cfg, wh, Gateway(cfg, wh)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One generation shared by the read-only tests: personas, conversations, and every judge's share."""
    cfg, wh, gw = _setup(tmp_path_factory.mktemp("synth"))
    personas = synth.build_personas(gw, cfg)
    convs = synth.generate_conversations(gw, cfg, personas.personas)
    judged = {j: synth.judge_conversations(gw, cfg, convs.conversations, convs.messages, j)
              for j in cfg.conversation_judges}
    return cfg, wh, personas, convs, judged


# -- personas -----------------------------------------------------------------------------------------------
def test_personas_are_configured_plus_generated_and_deduplicated(generated):
    cfg, wh, personas, _, _ = generated
    table = personas.personas
    assert table["persona_id"].is_unique
    configured = table[table["source"] == "configured"]
    # the re-spelled nurse merged into the first spelling, which keeps its own interests
    assert list(configured["persona"]) == [PERSONAS[0]["persona"], PERSONAS[1]["persona"]]
    assert list(configured.iloc[0]["interests"]) == PERSONAS[0]["interests"]
    assert personas.duplicates >= 1
    assert "duplicate" in " ".join(personas.rejected["reason"])
    generated_rows = table[table["source"] == "generated"]
    assert len(generated_rows) >= 1
    for row in generated_rows.itertuples(index=False):
        assert row.persona.strip() and len(row.interests) >= 2 and row.generator_model == "persona-gen"


def test_invalid_persona_json_is_retried_then_rejected(generated):
    cfg, wh, personas, _, _ = generated
    invalid = personas.rejected[personas.rejected["attempt"] > 0]
    assert len(invalid) >= 1, "the weak generator (quality 0.3) returns broken JSON about half the time"
    journal = wh.query("SELECT status FROM llm_journal WHERE model = 'persona-gen'")
    # every invalid reply was followed by another request, unless it was the last attempt
    given_up = invalid[invalid["attempt"] == 3]["item"].nunique()
    assert len(journal) == cfg.synth.generate_num_personas + len(invalid) - given_up
    n_generated = int((personas.personas["source"] == "generated").sum())
    rej = personas.rejected
    dupes_generated = int(((rej["attempt"] == 0) & (rej["item"] == "generated persona")).sum())
    assert n_generated + given_up + dupes_generated == cfg.synth.generate_num_personas
    for reason in invalid["reason"]:
        assert reason.startswith(("invalid JSON", "no JSON object", '"persona" must be'))


def test_a_generator_that_never_returns_json_is_recorded_not_fatal(tmp_path):
    models = [*SYNTH_MODELS, {"name": "broken-gen", "provider": "sim", "sim": {"quality": 0.0}}]
    cfg = load_config(synth_config(tmp_path, models=models, persona_model="broken-gen",
                                   generate_num_personas=3))
    wh = Warehouse(cfg.database_path)
    result = synth.build_personas(Gateway(cfg, wh), cfg)
    assert set(result.personas["source"]) == {"configured"}
    attempts = result.rejected[result.rejected["attempt"] > 0]
    assert sorted(Counter(attempts["item"]).values()) == [3, 3, 3]  # three attempts each, then given up
    assert wh.count("llm_journal", "WHERE model = 'broken-gen'") == 9


def test_persona_parser_accepts_fenced_json_and_names_what_is_wrong():
    ok = templates.parse_persona('```json\n{"persona": " A  cook ", "interests": ["knives"], '
                                 '"style": "brief"}\n```')
    assert ok == {"persona": "A cook", "interests": ["knives"], "style": "brief"}
    for reply, reason in [(None, "the call failed"), ("no braces here", "no JSON object"),
                          ('{"persona": "x",', "no JSON object"), ("{'persona': 'x'}", "invalid JSON"),
                          ('{"name": "x"}', '"persona" must be'),
                          ('{"persona": "x", "interests": 3}', '"interests"'),
                          ('{"persona": "x", "style": 1}', '"style" must be')]:
        with pytest.raises(templates.PersonaError, match=re.escape(reason)):
            templates.parse_persona(reply)


def test_without_personas_one_generic_user_talks(tmp_path):
    cfg, wh, gw = _setup(tmp_path, use_personas=False, conversations_per_persona=2, num_turns_max=1)
    personas = synth.build_personas(gw, cfg)
    assert list(personas.personas["source"]) == ["default"]
    assert wh.count("llm_journal", "WHERE model = 'persona-gen'") == 0  # nothing generated
    convs = synth.generate_conversations(gw, cfg, personas.personas)
    assert len(convs.conversations) == 2
    assert set(convs.conversations["persona_id"]) == set(personas.personas["persona_id"])
    system = templates.render_user_system(None)
    assert templates.GENERIC_PERSONA in system and templates.INTERESTS_LABEL not in system


# -- conversations ------------------------------------------------------------------------------------------
def test_conversations_follow_the_configured_turn_counts(generated):
    cfg, _, personas, convs, _ = generated
    table, msgs = convs.conversations, convs.messages
    assert len(table) == len(personas.personas) * cfg.synth.conversations_per_persona
    assert table["conversation_id"].is_unique
    assert (table["status"] == synth.COMPLETE).all() and table["error"].isna().all()
    assert (table["n_turns"] == table["n_turns_planned"]).all()
    assert set(table["n_turns"]) == {1, 2, 3}  # every count between min and max is drawn
    per_turn = msgs.groupby(["conversation_id", "turn"])["side"].apply(sorted)
    assert all(sides == [0, 1, 2] for sides in per_turn)
    assert (msgs.groupby("conversation_id")["turn"].max().reindex(table["conversation_id"]).to_numpy()
            == table["n_turns"].to_numpy()).all()
    # the two answers of a turn come from the conversation's two distinct eval models
    pairs = table.set_index("conversation_id")[["model_1", "model_2"]]
    assert (pairs["model_1"] != pairs["model_2"]).all()
    for row in msgs[msgs["side"] > 0].itertuples(index=False):
        assert row.model == pairs.loc[row.conversation_id, f"model_{row.side}"]


def test_exact_turn_count_when_min_equals_max(tmp_path):
    cfg, wh, gw = _setup(tmp_path, num_turns_min=2, num_turns_max=2, generate_num_personas=0,
                         conversations_per_persona=3)
    convs = synth.generate_conversations(gw, cfg, synth.build_personas(gw, cfg).personas)
    assert len(convs.conversations) == 2 * 3
    assert (convs.conversations["n_turns"] == 2).all()
    assert len(convs.messages) == 6 * 2 * 3


def test_user_messages_are_conditioned_on_the_persona(generated):
    _, _, personas, convs, _ = generated
    interests = {p.persona_id: [i.lower() for i in p.interests] for p in personas.personas.itertuples()}
    users = convs.messages[convs.messages["side"] == 0].merge(
        convs.conversations[["conversation_id", "persona_id"]])
    assert len(users) > 0
    for row in users.itertuples(index=False):
        assert any(i in row.content.lower() for i in interests[row.persona_id]), row.content
    # two personas with disjoint interests never share an opening
    openings = users[users["turn"] == 1].groupby("persona_id")["content"].apply(set)
    assert len(openings) == len(personas.personas)


def test_short_openings_are_regenerated(tmp_path):
    # shy-user (quality 0.2) opens with "Hi" about half the time; ten attempts all but guarantee an opening
    cfg, wh, gw = _setup(tmp_path, user_model="shy-user", generate_num_personas=0,
                         conversations_per_persona=6, num_turns_max=1)
    convs = synth.generate_conversations(gw, cfg, synth.build_personas(gw, cfg).personas, opening_attempts=10)
    assert (convs.conversations["status"] == synth.COMPLETE).all()
    openings = convs.messages[convs.messages["side"] == 0]["content"]
    assert len(openings) == len(convs.conversations) == 12
    assert all(len(o.split()) >= 2 and len(o) >= 15 for o in openings)
    assert convs.opening_retries >= 1
    assert wh.count("llm_journal", "WHERE model = 'shy-user'") == 12 + convs.opening_retries
    assert templates.opening_is_valid("Help me plan it") and not templates.opening_is_valid("Hello there!")
    assert not templates.opening_is_valid("Supercalifragilistic")


def test_the_user_replies_to_the_continued_answer(generated):
    _, _, _, convs, _ = generated
    msgs = convs.messages.set_index(["conversation_id", "turn", "side"])
    checked, also_in_other = 0, 0
    for c in convs.conversations.itertuples(index=False):
        for t in range(1, c.n_turns + 1):
            cont = [s for s in (1, 2) if msgs.loc[(c.conversation_id, t, s), "continued"]]
            if t == c.n_turns:
                assert cont == []  # nobody replies after the last turn
                continue
            assert len(cont) == 1
            follow_up = msgs.loc[(c.conversation_id, t + 1, 0), "content"].lower()
            phrases = re.findall(r"\bthe [a-z]+ [a-z]+\b", follow_up)
            assert phrases and any(p in msgs.loc[(c.conversation_id, t, cont[0]), "content"].lower()
                                   for p in phrases)
            other = msgs.loc[(c.conversation_id, t, 3 - cont[0]), "content"].lower()
            also_in_other += any(p in other for p in phrases)
            checked += 1
    assert checked >= 5 and also_in_other < checked


def test_eval_models_are_drawn_without_replacement_by_weight():
    llms = [("a", 1.0), ("b", 2.0), ("c", 0.5), ("d", 0.5)]
    rng = np.random.default_rng(0)
    draws = Counter(synth.draw_pair(rng, llms) for _ in range(20000))
    expected = synth.pair_probabilities(llms)
    assert abs(sum(expected.values()) - 1) < 1e-12
    assert all(a != b for a, b in draws)
    for pair, p in expected.items():
        assert abs(draws[pair] / 20000 - p) < 0.012, pair
    assert expected[("b", "a")] == pytest.approx(2 / 4 * 1 / 2)


def test_a_failed_call_ends_the_conversation_as_partial(tmp_path):
    cfg, wh, gw = _setup(tmp_path, models=[*SYNTH_MODELS, DEAD], generate_num_personas=0,
                         eval_llms=[{"model": "alpha"}, {"model": "bravo"}, {"model": "dead"}],
                         num_turns_min=2, num_turns_max=2, conversations_per_persona=4)
    convs = synth.generate_conversations(gw, cfg, synth.build_personas(gw, cfg).personas)
    table = convs.conversations
    with_dead = (table["model_1"] == "dead") | (table["model_2"] == "dead")
    assert with_dead.any() and (~with_dead).any()
    partial = table[with_dead]
    assert (partial["status"] == synth.PARTIAL).all() and (partial["n_turns"] == 0).all()
    assert partial["error"].str.contains("turn 1: dead failed").all()
    assert not convs.messages["conversation_id"].isin(partial["conversation_id"]).any()
    complete = table[~with_dead]
    assert (complete["status"] == synth.COMPLETE).all() and (complete["n_turns"] == 2).all()
    assert complete["error"].isna().all()


def test_an_opening_that_stays_too_short_is_bounded(tmp_path):
    models = [*SYNTH_MODELS, {"name": "mumbler", "provider": "sim", "sim": {"quality": 0.0}}]
    cfg, wh, gw = _setup(tmp_path, models=models, user_model="mumbler", generate_num_personas=0,
                         conversations_per_persona=1)
    convs = synth.generate_conversations(gw, cfg, synth.build_personas(gw, cfg).personas, opening_attempts=2)
    assert (convs.conversations["status"] == synth.PARTIAL).all()
    assert convs.conversations["error"].str.contains("after 2 attempts").all()
    assert convs.messages.empty
    assert wh.count("llm_journal", "WHERE model = 'mumbler'") == 2 * len(convs.conversations)


def test_missing_user_model_or_eval_models_is_a_clear_config_error(tmp_path):
    cfg = load_config(synth_config(tmp_path, user_model=None))
    with pytest.raises(ConfigError, match="synth.user_model"):
        synth.plan_conversations(cfg, ["p"])
    cfg = load_config(synth_config(tmp_path, eval_llms=[{"model": "alpha"}]))
    with pytest.raises(ConfigError, match="synth.eval_llms: list at least two"):
        synth.plan_conversations(cfg, ["p"])


def test_conversation_plans_are_reproducible_and_seeded(tmp_path):
    cfg = load_config(synth_config(tmp_path))
    ids = ["p1", "p2", "p3"]
    assert synth.plan_conversations(cfg, ids) == synth.plan_conversations(cfg, ids)
    other = load_config(synth_config(tmp_path, seed=8))
    assert synth.plan_conversations(other, ids) != synth.plan_conversations(cfg, ids)


# -- conversation judgments ---------------------------------------------------------------------------------
def test_every_turn_is_judged_once_by_a_judge_that_took_no_part(generated):
    cfg, _, _, convs, judged = generated
    allj = pd.concat([r.judgments for r in judged.values() if len(r.judgments)], ignore_index=True)
    n_turns = int(convs.conversations["n_turns"].sum())
    assert len(allj) == n_turns and not allj.duplicated(["conversation_id", "turn"]).any()
    assert not ((allj["judge_model"] == allj["model_1"]) | (allj["judge_model"] == allj["model_2"])).any()
    assert (allj["parse_status"] == "ok").all()
    assert (allj["score_1"] + allj["score_2"] == 100).all()
    assert set(allj["score_1"]) <= {0.0, 25.0, 50.0, 75.0, 100.0}


def test_min_cost_picks_the_cheapest_eligible_judge(generated):
    cfg, _, _, convs, judged = generated
    # prices: alpha 0 < judge-noisy 0.1/0.2 < judge-clean 1/2
    by_alpha = judged["alpha"].judgments
    by_noisy = judged["judge-noisy"].judgments
    assert len(judged["judge-clean"].judgments) == 0
    assert len(by_alpha) > 0 and len(by_noisy) > 0
    assert not ((by_alpha["model_1"] == "alpha") | (by_alpha["model_2"] == "alpha")).any()
    assert ((by_noisy["model_1"] == "alpha") | (by_noisy["model_2"] == "alpha")).all()


def test_random_strategy_draws_a_seeded_eligible_judge(tmp_path):
    judge = {"models": ["alpha", "judge-clean", "judge-noisy"], "choice_strategy": "random"}
    cfg = load_config(synth_config(tmp_path, judge=judge))
    conv, msgs = _fake_turns(120)
    items = synth.turn_items(cfg, conv, msgs)
    chosen = [synth.assign_judge(cfg, it) for it in items]
    assert chosen == [synth.assign_judge(cfg, it) for it in items]  # reproducible
    for it, j in zip(items, chosen, strict=True):
        assert j in synth.eligible_judges(cfg, it.model_1, it.model_2) and j not in (it.model_1, it.model_2)
    counts = Counter(chosen)
    assert set(counts) == {"alpha", "judge-clean", "judge-noisy"}  # even the priciest judge is drawn
    other = load_config(synth_config(tmp_path, judge=judge, seed=99))
    assert [synth.assign_judge(other, it) for it in items] != chosen
    min_cost = load_config(synth_config(tmp_path, judge={**judge, "choice_strategy": "min_cost"}))
    assert "judge-clean" not in {synth.assign_judge(min_cost, it) for it in items}


def test_a_turn_with_no_eligible_judge_is_left_unjudged(tmp_path):
    cfg = load_config(synth_config(tmp_path, judge={"models": ["alpha", "bravo"]}))
    conv, msgs = _fake_turns(1, models=("alpha", "bravo"))
    (item,) = synth.turn_items(cfg, conv, msgs)
    assert synth.assign_judge(cfg, item) is None


def test_better_models_win_the_judgments(tmp_path):
    cfg, wh, gw = _setup(tmp_path, generate_num_personas=0, conversations_per_persona=12, num_turns_min=2,
                         num_turns_max=2, eval_llms=[{"model": "alpha"}, {"model": "delta"}],
                         judge={"models": ["judge-clean"]})
    convs = synth.generate_conversations(gw, cfg, synth.build_personas(gw, cfg).personas)
    res = synth.judge_conversations(gw, cfg, convs.conversations, convs.messages, "judge-clean")
    j = res.judgments
    assert len(j) == 2 * 12 * 2 and j["swapped"].any() and (~j["swapped"]).any()
    alpha_score = np.where(j["model_1"] == "alpha", j["score_1"], j["score_2"])
    assert alpha_score.mean() > 70  # alpha (quality 0.9) beats delta (0.2) clearly
    # the preference is stored relative to (model_1, model_2) whatever order the judge saw
    assert ((j["preference"] <= 2) == (j["score_1"] > 50)).all()


def test_preference_parser_reads_the_last_marker():
    assert templates.parse_preference("I'd say [[2]]... on reflection\nPreference: [[4]]") == (4, "ok")
    assert templates.parse_preference("Preference: [[7]]") == (None, "out_of_range")
    assert templates.parse_preference("no idea") == (None, "no_verdict")
    assert templates.parse_preference(None) == (None, "call_failed")


def test_judge_timeout_applies_to_judge_models_only(tmp_path):
    cfg = load_config(synth_config(tmp_path, judge={"models": ["judge-clean"], "timeout_s": 7.5}))
    out = synth.with_judge_timeout(cfg)
    assert out.model("judge-clean").timeout_s == 7.5
    assert out.model("alpha").timeout_s == cfg.model("alpha").timeout_s
    assert out.source == cfg.source and cfg.model("judge-clean").timeout_s != 7.5


def _fake_turns(n: int, models=("bravo", "charlie")):
    """n one-turn conversations between two models, without model calls (for judge assignment)."""
    conv = pd.DataFrame({"conversation_id": [f"c{i:03d}" for i in range(n)], "model_1": models[0],
                         "model_2": models[1]})
    rows = []
    for c in conv["conversation_id"]:
        for side, text in ((0, "What is a good first bread to bake?"), (1, "Try a simple loaf."),
                           (2, "Start with focaccia.")):
            rows.append({"message_id": f"{c}-{side}", "conversation_id": c, "turn": 1, "side": side,
                         "content": text, "continued": False})
    return conv, pd.DataFrame(rows)


# -- cost estimate -------------------------------------------------------------------------------------------
def test_cost_estimate_counts_calls_and_prices_them(tmp_path):
    models = [{**m, "price_input_per_mtok": 1.0, "price_output_per_mtok": 4.0}
              if m["name"] == "user-sim" else m
              for m in SYNTH_MODELS]
    cfg = load_config(synth_config(tmp_path, models=models, num_turns_min=2, num_turns_max=2,
                                   conversations_per_persona=3))
    est = synth.estimate_synth_cost(cfg)
    calls = est.groupby("stage")["calls"].sum()
    n_conv = (len(PERSONAS) + 4) * 3  # the estimate cannot know of duplicates before generation
    assert calls["personas"] == 4
    assert calls["user_opening"] == pytest.approx(n_conv)
    assert calls["user_followup"] == pytest.approx(n_conv)  # one follow-up in a two-turn conversation
    assert calls["eval_answer"] == pytest.approx(2 * 2 * n_conv)
    assert calls["judge"] == pytest.approx(2 * n_conv)
    # four equally weighted models: each is in half of the pairs
    per_model = est[est["stage"] == "eval_answer"].set_index("model")["calls"]
    assert per_model.to_dict() == pytest.approx(
        {m: 2 * n_conv / 2 for m in ("alpha", "bravo", "charlie", "delta")})
    judges = est[est["stage"] == "judge"].set_index("model")["calls"]
    assert set(judges.index) == {"alpha", "judge-noisy"}  # min_cost: alpha unless alpha is one of the pair
    assert judges["alpha"] == pytest.approx(2 * n_conv / 2)
    user = est[est["stage"].str.startswith("user")]
    assert user["cost_usd"].sum() == pytest.approx(
        (user["input_tokens"].sum() * 1 + user["output_tokens"].sum() * 4) / 1e6)
    assert est.loc[est["model"] == "alpha", "cost_usd"].sum() == 0
    text = synth.format_synth_cost(est)
    assert "total" in text and "judge-noisy" in text


def test_cost_estimate_follows_the_choice_strategy_and_needs_no_database(tmp_path):
    cfg = load_config(synth_config(tmp_path, judge={"models": ["judge-clean", "judge-noisy"],
                                                    "choice_strategy": "random"}))
    est = synth.estimate_synth_cost(cfg)
    judges = est[est["stage"] == "judge"].set_index("model")
    assert judges.loc["judge-clean", "calls"] == pytest.approx(judges.loc["judge-noisy", "calls"])
    assert judges.loc["judge-clean", "cost_usd"] > judges.loc["judge-noisy", "cost_usd"]
    assert not cfg.database_path.exists()  # a dry run touches no database
