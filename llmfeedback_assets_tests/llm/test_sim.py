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
    assert {len(s.split()) for tier in sim._REGISTERS for s in tier} == {9}  # length follows verbosity alone
    assert len(sim._REGISTERS) == sim.N_POINTS and all(len(t) >= sim.CORE_SENTENCES for t in sim._REGISTERS)
    assert {len(lead.split()) for lead in sim._LEADS} == {4}  # as the old "The key considerations are"
    phrases = {f"the {a} {n}" for a in sim._ADJ for n in sim._NOUN}
    texts = [s.lower() for tier in sim._REGISTERS for s in tier] + [lead.lower() for lead in sim._LEADS]
    assert not [t for t in texts if any(p in t for p in phrases)]
    assert len({s for tier in sim._REGISTERS for s in tier}) == sum(len(t) for t in sim._REGISTERS)


def test_true_score_is_exact_and_the_answer_speaks_in_the_register_of_its_score():
    for quality in (0.1, 0.3, 0.5, 0.7, 0.9):
        spec = _spec(quality, verbosity=0.8)
        for q in QUESTIONS:
            answer = sim.write_answer(spec, q, rng_for("t", spec.name, q))
            covered = [p for p in sim.key_points(q) if p in answer.lower()]
            k = sim.true_score(q, answer)
            assert k == len(covered) and sim._LEADS[k - 1] in answer
            spoken = {t for t, tier in enumerate(sim._REGISTERS) for s in tier if s in answer}
            assert spoken == {sim.register_tier(k)}
            assert sum(answer.count(s) for s in sim._REGISTERS[k - 1]) >= sim.CORE_SENTENCES


def test_neighbours_in_embedding_space_share_the_true_score():
    """DS2's premise, which the default demo relies on: an answer's nearest neighbours among answers to
    OTHER questions mostly cover as many key points as it does (MiniLM, as curation embeds them)."""
    from llmfeedback_assets.embedding import encoder as embed

    specs = [_spec(q, v) for q, v in ((0.85, 0.3), (0.55, 0.2), (0.42, 0.95), (0.3, 0.4))]
    rows = [(i, q, sim.write_answer(s, q, rng_for("nb", s.name, q)))
            for i, q in enumerate(QUESTIONS) for s in specs]
    truth = np.array([sim.true_score(q, a) for _, q, a in rows])
    x = embed.load_encoder(embed.default_model_path(), max_length=256).embed_pairs(
        [q for _, q, _ in rows], [a for _, _, a in rows])
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    question = np.array([i for i, _, _ in rows])
    sim_matrix = x @ x.T
    sim_matrix[question[:, None] == question[None, :]] = -np.inf
    nearest = np.argsort(-sim_matrix, axis=1)[:, :5]
    share = float(np.mean(np.abs(truth[nearest] - truth[:, None]) == 0))
    chance = float(np.sum((np.bincount(truth) / truth.size) ** 2))
    assert share > 0.8 > 3 * chance, (share, chance)


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
