"""Synthetic feedback where a known feature decides quality, for tests, demos and benchmarks.

Every response is a few sentences; each sentence is either substantive (about the topic of the prompt) or
filler (hedging, off-topic, dismissive). A response's true quality is its share of substantive sentences.
Ratings are that quality on the 1–7 scale plus noise; rankings compare the qualities of two responses plus
noise and call close pairs `equal`. A reward model that learns the feature ranks held-out pairs well above
chance, which is what the tests check.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

TOPICS = [
    "photosynthesis", "the water cycle", "compound interest", "the French Revolution", "plate tectonics",
    "vaccination", "binary search", "the causes of inflation", "black holes", "the immune system",
    "supply and demand", "climate change", "the printing press", "electric circuits", "sleep hygiene",
    "the Roman Empire", "machine translation", "volcanoes", "healthy eating", "the stock market",
    "public key cryptography", "ocean tides", "the theory of evolution", "renewable energy",
    "the human heart", "recycling", "the moon landing", "language learning", "earthquakes",
    "the internet", "bees and pollination", "antibiotics", "gravity", "democracy", "coral reefs",
    "the Industrial Revolution", "sorting algorithms", "rainbows", "memory and learning", "time zones",
]

QUESTIONS = [
    "Explain {t} to a curious teenager.",
    "What should a beginner know about {t}?",
    "Give a short overview of {t}.",
    "Why does {t} matter?",
]

GOOD = [
    "{T} can be understood by looking at the main parts involved and how they interact.",
    "A clear example of {t} is something people can observe in everyday life.",
    "Scientists and historians have studied {t} carefully and agree on the key facts.",
    "The most important idea about {t} is the cause and effect behind it.",
    "To learn more about {t}, start with the basics and then read a reliable textbook.",
    "In short, {t} matters because it affects health, money or the world around us.",
]

FILLER = [
    "I am not really sure about any of this.",
    "Honestly, that is a boring question and you should look it up yourself.",
    "Let me talk about my favourite pizza toppings instead.",
    "Whatever, it does not matter much anyway.",
    "I cannot help with that, sorry.",
    "lol idk, maybe ask someone else.",
]


def _response(topic: str, quality: float, rng: np.random.Generator) -> tuple[str, float]:
    k = int(rng.integers(3, 6))
    good = rng.random(k) < quality
    sentences = [
        (GOOD[int(rng.integers(len(GOOD)))] if g else FILLER[int(rng.integers(len(FILLER)))])
        for g in good
    ]
    text = " ".join(s.format(t=topic, T=topic[0].upper() + topic[1:]) for s in sentences)
    return text, float(good.mean())


def synthetic_feedback(n_prompts: int = 40, n_responses: int = 4, *, rating_noise: float = 0.5,
                       ranking_noise: float = 0.1, tie_margin: float = 0.1, seed: int = 0
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(candidates, ratings, rankings) for `n_prompts` prompts with `n_responses` responses each.

    candidates: instruction, input, sample_index, response, quality (the true feature);
    ratings: instruction, input, response, score (1–7); rankings: instruction, input, response1,
    response2, ranking (a/b/equal) over every pair of a prompt's responses.
    """
    rng = np.random.default_rng(seed)
    prompts = [q.format(t=t) for t in TOPICS for q in QUESTIONS]
    topics = [t for t in TOPICS for _ in QUESTIONS]
    if not 1 <= n_prompts <= len(prompts) or n_responses < 2:
        raise ValueError(f"need 1..{len(prompts)} prompts and at least 2 responses per prompt")
    order = rng.permutation(len(prompts))[:n_prompts]
    cands, ratings, rankings = [], [], []
    for p in order:
        instruction, topic = prompts[p], topics[p]
        rows = []
        for j in range(n_responses):
            text, q = _response(topic, float(rng.uniform(0.0, 1.0)), rng)
            rows.append((text, q))
            cands.append((instruction, "", j, text, q))
            score = int(np.clip(np.rint(1 + 6 * q + rng.normal(0, rating_noise)), 1, 7))
            ratings.append((instruction, "", text, score))
        for (t1, q1), (t2, q2) in itertools.combinations(rows, 2):
            d = q1 - q2 + rng.normal(0, ranking_noise)
            ranking = "equal" if abs(d) < tie_margin else ("a" if d > 0 else "b")
            rankings.append((instruction, "", t1, t2, ranking))
    return (
        pd.DataFrame(cands, columns=["instruction", "input", "sample_index", "response", "quality"]),
        pd.DataFrame(ratings, columns=["instruction", "input", "response", "score"]),
        pd.DataFrame(rankings, columns=["instruction", "input", "response1", "response2", "ranking"]),
    )
