"""The simulator's answers: a register that follows the true score, without moving length or the truth."""

from __future__ import annotations

import numpy as np

from llmfeedback_assets.config import ModelSpec, SimResponderSpec
from llmfeedback_assets.ids import rng_for
from llmfeedback_assets.llm import sim

QUESTIONS = [f"Question {i}: how would you explain topic {i} to a new colleague?" for i in range(30)]


def _spec(quality: float, verbosity: float = 0.5) -> ModelSpec:
    return ModelSpec(name=f"m-{quality}-{verbosity}", provider="sim",
                     sim=SimResponderSpec(quality=quality, verbosity=verbosity))


def test_register_sentences_keep_length_and_never_name_a_key_point():
    for j in range(len(sim._FILLER)):  # filler sentence j is as long in every register tier
        assert len({len(tier[j].split()) for tier in sim._REGISTERS}) == 1
    assert {len(lead.split()) for lead in sim._LEADS} == {4}  # as the old "The key considerations are"
    phrases = {f"the {a} {n}" for a in sim._ADJ for n in sim._NOUN}
    texts = [s.lower() for tier in sim._REGISTERS for s in tier] + [lead.lower() for lead in sim._LEADS]
    assert not [t for t in texts if any(p in t for p in phrases)]


def test_true_score_is_exact_and_the_register_follows_it():
    tiers = {k: [] for k in range(1, sim.N_POINTS + 1)}
    for quality in (0.1, 0.3, 0.5, 0.7, 0.9):
        spec = _spec(quality, verbosity=0.8)
        for q in QUESTIONS:
            answer = sim.write_answer(spec, q, rng_for("t", spec.name, q))
            covered = [p for p in sim.key_points(q) if p in answer.lower()]
            k = sim.true_score(q, answer)
            assert k == len(covered) and sim._LEADS[k - 1] in answer
            tiers[k] += [t for t, tier in enumerate(sim._REGISTERS) for s in tier if s in answer]
    means = [np.mean(tiers[k]) for k in sorted(tiers) if len(tiers[k]) >= 5]
    assert len(means) >= 6 and np.all(np.diff(means) > 0)  # higher true score, more expert register


def test_length_follows_verbosity_not_quality():
    def mean_words(quality: float, verbosity: float) -> float:
        spec = _spec(quality, verbosity)
        answers = [sim.write_answer(spec, q, rng_for("w", i, q)) for i in range(10) for q in QUESTIONS]
        # key points are three words each and the opener is the model's own: the rest is lead and filler
        fixed = len(sim.opener_for(spec.name).split())
        return float(np.mean([len(a.split()) - fixed - 3 * sim.true_score(q, a)
                              for a, q in zip(answers, QUESTIONS * 10, strict=True)]))

    for verbosity in (0.1, 0.9):
        low, high = mean_words(0.2, verbosity), mean_words(0.9, verbosity)
        assert abs(low - high) < 2.5, (verbosity, low, high)
    assert mean_words(0.5, 0.9) - mean_words(0.5, 0.1) > 30


def test_answers_are_deterministic_per_request_key():
    spec = _spec(0.6)
    one = sim.simulate(spec, [("user", QUESTIONS[0])], "key-a")
    assert sim.simulate(spec, [("user", QUESTIONS[0])], "key-a") == one
    assert sim.simulate(spec, [("user", QUESTIONS[0])], "key-b") != one
