"""Pair selection: all pairs, against a baseline, and LLMFAO's sparse design (checked against its
published pairs, ../shared/datasets/llmfao, skipped when absent)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pandas as pd
import pytest
from rapidfuzz.distance import Levenshtein

from llmfeedback_assets.judging import select_pairs

LLMFAO = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "llmfao"


def answers(rows: list[tuple[object, object, str]], id_column: str = "prompt_id") -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[id_column, "model", "text"])


def triples(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(frame.itertuples(index=False, name=None))


def unordered(frame: pd.DataFrame) -> set[tuple[str, frozenset[str]]]:
    return {(p, frozenset((a, b))) for p, a, b in triples(frame)}


def connected(models: list[str], pairs: list[tuple[str, str]]) -> bool:
    adj: dict[str, set[str]] = {m: set() for m in models}
    for a, b in pairs:
        adj[a].add(b)
        adj[b].add(a)
    seen, stack = {models[0]}, [models[0]]
    while stack:
        for nxt in adj[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return seen == set(models)


# --- the published LLMFAO pairs -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llmfao_pairs() -> tuple[pd.DataFrame, float]:
    if not (LLMFAO / "results.jsonl").exists():
        pytest.skip("../shared/datasets/llmfao is absent")
    results = pd.read_json(LLMFAO / "results.jsonl", lines=True)
    frame = results.rename(columns={"prompt": "prompt_id", "result": "text"})[["prompt_id", "model", "text"]]
    start = time.perf_counter()
    out = select_pairs(frame, method="llmfao", k=3, seed=0)
    return out, time.perf_counter() - start


def test_llmfao_reproduces_the_published_pair_list(llmfao_pairs):
    out, seconds = llmfao_pairs
    gpt4 = pd.read_csv(LLMFAO / "gpt4-comparisons.csv").sort_values("id")
    assert gpt4["id"].tolist() == list(range(len(gpt4)))  # ids are the pairs.jsonl row numbers
    expected = [(str(p), str(x), str(y))
                for p, x, y in gpt4[["prompt", "model_x", "model_y"]].itertuples(index=False)]
    assert list(out.columns) == ["prompt_id", "model_a", "model_b"]
    assert len(out) == len(expected) == 3236
    assert triples(out) == expected  # same rows, same order, same orientation
    assert seconds < 20


def test_llmfao_crowd_subset_sits_at_the_same_ids(llmfao_pairs):
    out, _ = llmfao_pairs
    crowd = pd.read_json(LLMFAO / "pairs-crowd.jsonl", lines=True)
    assert len(crowd) == 2139
    ours = out.iloc[crowd["id"].tolist()]
    assert triples(ours) == [(str(p), str(x), str(y))
                             for p, x, y in crowd[["prompt", "model_x", "model_y"]].itertuples(index=False)]
    # upstream's crowd rule (no code prompts, no cot-sally or svg) picks exactly those ids from our list
    prompts = pd.read_json(LLMFAO / "prompts.jsonl", lines=True)
    kept = {str(p) for p, t, s in prompts[["id", "type", "slug"]].itertuples(index=False)
            if t != "code" and s not in {"cot-sally", "svg"}}
    assert [i for i, p in enumerate(out["prompt_id"]) if p in kept] == crowd["id"].tolist()


# --- all and baseline ---------------------------------------------------------------------------------------

def test_all_lists_every_pair_per_prompt_in_prompt_order():
    frame = answers([(2, "zed", "x"), (2, "amy", "y"), (1, "bob", "z"), (2, "kim", "w"), (1, "amy", "v")])
    assert triples(select_pairs(frame, method="all")) == [
        ("2", "amy", "kim"), ("2", "amy", "zed"), ("2", "kim", "zed"), ("1", "amy", "bob")]


def test_baseline_pairs_each_model_with_the_baseline_where_it_answered():
    frame = answers([("p1", "m1", "a"), ("p1", "base", "b"), ("p1", "m2", "c"),
                     ("p2", "m1", "d"), ("p2", "m2", "e"),  # no baseline answer: no pairs
                     ("p3", "base", "f"), ("p3", "m3", "g")])
    assert triples(select_pairs(frame, method="baseline", baseline="base")) == [
        ("p1", "m1", "base"), ("p1", "m2", "base"), ("p3", "m3", "base")]
    with pytest.raises(ValueError, match="baseline"):
        select_pairs(frame, method="baseline")
    with pytest.raises(ValueError, match="'nobody'"):
        select_pairs(frame, method="baseline", baseline="nobody")


# --- llmfao on small frames ---------------------------------------------------------------------------------

def test_llmfao_links_most_distant_answers_in_graph_order_and_flips_with_the_seed():
    # texts of 1, 3, 6, 10 letters: distances are length differences; with k=1 the farthest partners are
    # m1->m4, m2->m4, m3->m1, m4->m1. Graph order gives (m1,m4), (m1,m3), (m2,m4); the published regrouping by
    # second model puts both m4 pairs first.
    frame = answers([("p", "m1", "a"), ("p", "m2", " AAA\n"), ("p", "m3", "a" * 6), ("p", "m4", "a" * 10)])
    plain = [("p", "m1", "m4"), ("p", "m2", "m4"), ("p", "m1", "m3")]
    for seed in range(6):
        rng = random.Random(seed)
        flips = [rng.choice([True, False]) for _ in plain]
        expected = [(p, b, a) if flip else (p, a, b) for (p, a, b), flip in zip(plain, flips, strict=True)]
        assert triples(select_pairs(frame, k=1, seed=seed)) == expected


def test_llmfao_breaks_distance_ties_by_row_order():
    rows = [("p", "x", "x"), ("p", "y", "y"), ("p", "z", "z")]  # every distance is 1
    assert unordered(select_pairs(answers(rows), k=1)) == {("p", frozenset("xy")), ("p", frozenset("xz"))}
    backwards = select_pairs(answers(rows[::-1]), k=1)
    assert unordered(backwards) == {("p", frozenset("zy")), ("p", frozenset("zx"))}


def test_llmfao_joins_a_disconnected_graph_to_the_first_component():
    # With k=1 each model's farthest answer is its partner: (m0,m1), (m2,m4), (m3,m5) would be three islands.
    # The most distant cross pairs to the first island are m0-m2 (4) and m1-m5 (4); all others are closer.
    texts = ["aaabb", "bbbbaa", "bbaaaa", "bbbbb", "aabbab", "aaaa"]
    frame = answers([("p", f"m{i}", t) for i, t in enumerate(texts)])
    out = select_pairs(frame, k=1)
    assert unordered(out) == {("p", frozenset(pair)) for pair in
                              [("m0", "m1"), ("m2", "m4"), ("m3", "m5"), ("m0", "m2"), ("m1", "m5")]}
    # ties between cross pairs go to the earliest models: two islands at distance 8 inside, 4 across
    tied = answers([("q", "a1", "aaaaaaaa"), ("q", "a2", "bbbbbbbb"),
                    ("q", "b1", "aaaabbbb"), ("q", "b2", "bbbbaaaa")])
    assert unordered(select_pairs(tied, k=1)) == {("q", frozenset(pair)) for pair in
                                                  [("a1", "a2"), ("b1", "b2"), ("a1", "b1")]}


def test_llmfao_leaves_a_connected_graph_alone():
    # k=2 on the islands above is connected already: each pair is among a model's two farthest, no extra
    texts = ["aaabb", "bbbbaa", "bbaaaa", "bbbbb", "aabbab", "aaaa"]
    models = [f"m{i}" for i in range(6)]
    out = triples(select_pairs(answers([("p", m, t) for m, t in zip(models, texts, strict=True)]), k=2))
    dist = {(a, b): Levenshtein.distance(ta, tb) for a, ta in zip(models, texts, strict=True)
            for b, tb in zip(models, texts, strict=True)}

    def farthest(a: str) -> list[str]:
        return sorted((b for b in models if b != a), key=lambda b: dist[a, b], reverse=True)[:2]

    expected = {frozenset((a, b)) for a in models for b in farthest(a)}
    assert connected(models, [(a, b) for _, a, b in out])
    assert {frozenset((a, b)) for _, a, b in out} == expected
    assert len(out) == len(expected)


def random_answers(n_models: int, n_prompts: int = 2, seed: int = 7) -> pd.DataFrame:
    rng = random.Random(seed)
    def text() -> str:
        return "".join(rng.choice("abcde ") for _ in range(rng.randint(5, 40)))

    return answers([(f"p{p}", f"model{m:02d}", text()) for p in range(n_prompts) for m in range(n_models)])


@pytest.mark.parametrize("n", [10, 20, 40])
def test_pair_counts_grow_linearly_except_for_all(n):
    frame, k = random_answers(n), 3
    llmfao = select_pairs(frame, method="llmfao", k=k)
    baseline = select_pairs(frame, method="baseline", baseline="model00")
    every = select_pairs(frame, method="all")
    for prompt in ("p0", "p1"):
        mine = llmfao[llmfao["prompt_id"] == prompt]
        assert n - 1 <= len(mine) <= k * n
        pairs = list(zip(mine["model_a"], mine["model_b"], strict=True))
        assert connected(sorted(set(frame["model"])), pairs)
        assert (baseline["prompt_id"] == prompt).sum() == n - 1
        assert (every["prompt_id"] == prompt).sum() == n * (n - 1) // 2
    assert len(unordered(llmfao)) == len(llmfao)  # no pair twice
    assert (llmfao["model_a"] != llmfao["model_b"]).all()


def test_llmfao_is_deterministic_and_the_seed_only_flips_sides():
    frame = random_answers(20)
    first, again, other = (select_pairs(frame, seed=s) for s in (5, 5, 6))
    pd.testing.assert_frame_equal(first, again)
    assert unordered(first) == unordered(other)
    assert triples(first) != triples(other)


# --- input handling -----------------------------------------------------------------------------------------

def test_ids_become_strings_and_question_id_is_accepted():
    frame = answers([(81, 1, "a"), (81, 2, "bb"), (81, 3, "ccc")], id_column="question_id")
    out = select_pairs(frame, method="all")
    assert triples(out) == [("81", "1", "2"), ("81", "1", "3"), ("81", "2", "3")]
    assert all(isinstance(v, str) for v in out.to_numpy().ravel())


def test_bad_arguments_and_rows_are_rejected_clearly():
    frame = answers([("p", "m1", "a"), ("p", "m2", "b")])
    with pytest.raises(ValueError, match="all, baseline, llmfao"):
        select_pairs(frame, method="swiss")
    with pytest.raises(ValueError, match="k must be"):
        select_pairs(frame, k=0)
    with pytest.raises(ValueError, match=r"row 3: field 'model'.*row 1"):
        select_pairs(answers([("p", "m1", "a"), ("p", "m2", "b"), ("p", "m1", "c")]))
    with pytest.raises(ValueError, match="row 2: field 'text'"):
        select_pairs(answers([("p", "m1", "a"), ("p", "m2", None)]))
    with pytest.raises(ValueError, match="prompt_id"):
        select_pairs(frame.drop(columns="prompt_id"))
    assert len(select_pairs(answers([("p", "solo", "a")]))) == 0
