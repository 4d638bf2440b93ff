"""Frozen reward models read the shared embedding store: what curation embedded is not embedded again, two
models rerank with one embedding pass, a second run embeds nothing, and stored vectors give the rewards the
encoder itself gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from llmfeedback_assets.config import load_config
from llmfeedback_assets.curation import pipeline as curation
from llmfeedback_assets.embedding import encoder as embed
from llmfeedback_assets.embedding.store import EmbeddingStore
from llmfeedback_assets.reward import (
    load_reward_model,
    rerank_best_of_n,
    save_reward_model,
    score,
    train_rankings_reward_model,
    train_ratings_reward_model,
)
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.project import write_config
from llmfeedback_assets_tests.support.synthetic_feedback import synthetic_feedback

TRAIN = {"mode": "frozen", "epochs": 3, "batch_size": 16, "max_length": 256, "seed": 0}




@pytest.fixture(scope="module")
def data():
    cands, ratings, rankings = synthetic_feedback(12, 4, seed=1)
    prompt = {i: i for i in cands["instruction"]}  # an empty input: the prompt is the instruction
    ratings = ratings.assign(prompt=ratings["instruction"].map(prompt))[["prompt", "response", "score"]]
    return cands.assign(prompt=cands["instruction"]), ratings, rankings


def test_texts_curation_embedded_are_not_embedded_again(data, calls, tmp_path):
    _, ratings, rankings = data
    wh = Warehouse(tmp_path / "w.duckdb")
    examples = pd.DataFrame({"instruction": ratings["prompt"], "output": ratings["response"]})
    report = curation.embed_examples(wh, load_config(write_config(tmp_path)), examples)
    assert report.new == len(set(zip(ratings["prompt"], ratings["response"], strict=True))) == sum(calls)

    calls.clear()
    same = TRAIN | {"precision": embed.auto_precision(report.device)}  # as the pipeline trains frozen models
    res = train_ratings_reward_model(ratings, embedding_store=EmbeddingStore(wh), **same)
    assert calls == [] and res.model.embedding_backbone == report.backbone
    # the rankings model's texts are the same answers: nothing new either, and scoring reads them too
    train_rankings_reward_model(rankings, embedding_store=EmbeddingStore(wh), **same)
    score(res, ratings["prompt"], ratings["response"], store=EmbeddingStore(wh))
    assert calls == [] and wh.count("embedding_store") == report.new


def test_two_models_rerank_with_one_pass_and_a_second_run_embeds_nothing(data, calls, tmp_path):
    cands, ratings, rankings = data
    models = {"ratings_rm": train_ratings_reward_model(ratings, **TRAIN),
              "rankings_rm": train_rankings_reward_model(rankings, **TRAIN)}
    cands = pd.concat([cands, cands.assign(response=cands["response"] + " Indeed.")], ignore_index=True)
    cands = cands.assign(responder_model="sim")
    calls.clear()
    wh = Warehouse(tmp_path / "w.duckdb")
    store = EmbeddingStore(wh)
    picks = rerank_best_of_n(cands, models, by=["instruction"], store=store)
    assert calls == [len(cands)]  # ONE pass over the candidates for both models (trained without a store)
    assert set(picks["reward_model"]) == set(models) and store.total.embedded == sum(calls)
    assert picks.attrs["n_overlong"] == {"ratings_rm": 0, "rankings_rm": 0}

    calls.clear()
    again = rerank_best_of_n(cands, models, by=["instruction"], store=EmbeddingStore(wh))
    assert calls == []
    pd.testing.assert_frame_equal(again, picks)


def test_stored_embeddings_give_the_encoders_rewards(data, tmp_path, calls):
    cands, ratings, _ = data
    res = train_ratings_reward_model(ratings, **TRAIN)
    model = res.model
    prompts, responses = cands["prompt"].tolist(), cands["response"].tolist()
    wh = Warehouse(tmp_path / "w.duckdb")
    stored = score(model, prompts, responses, store=EmbeddingStore(wh))
    from_db = score(model, prompts, responses, store=EmbeddingStore(wh))  # read back from DuckDB
    enc = model.tokenizer(prompts, responses, truncation="longest_first", max_length=model.max_length,
                          padding=True, return_tensors="pt")
    with torch.inference_mode():
        direct = model(dict(enc)).numpy()  # the encoder, pooled and through the head, with no store
    np.testing.assert_allclose(stored, direct, atol=1e-4)
    np.testing.assert_array_equal(from_db, stored)

    # a saved and reloaded model keeps its store id, so it reads the vectors its training made
    reloaded = load_reward_model(save_reward_model(res, tmp_path / "m", version="v1"))
    assert reloaded.embedding_backbone == model.embedding_backbone
    calls.clear()
    np.testing.assert_allclose(score(reloaded, prompts, responses, store=EmbeddingStore(wh)), stored,
                               atol=1e-6)
    assert calls == []


def test_another_backbone_gets_its_own_vectors(data, calls, tmp_path):
    _, ratings, _ = data
    wh = Warehouse(tmp_path / "w.duckdb")
    train_ratings_reward_model(ratings, embedding_store=EmbeddingStore(wh), **TRAIN)
    short = train_ratings_reward_model(ratings, embedding_store=EmbeddingStore(wh),
                                       **(TRAIN | {"max_length": 32}))
    distinct = len(set(zip(ratings["prompt"], ratings["response"], strict=True)))
    assert calls == [distinct, distinct] and wh.count("embedding_store") == 2 * distinct
    assert "|32|fp32" in short.model.embedding_backbone
