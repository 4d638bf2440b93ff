"""Sentence embeddings with the packaged MiniLM weights (offline) and the text hash (the store key)."""

from __future__ import annotations

import numpy as np
import pytest

from llmfeedback_assets.embedding.encoder import embed_texts, text_hash

TEXTS = [
    "How do I bake sourdough bread at home?",
    "What is the method for making sourdough bread in my kitchen?",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Write a Python function that reverses a linked list.",
]


@pytest.fixture(scope="module")
def vectors():
    return embed_texts(TEXTS, batch_size=3)


def test_embeddings_are_normalised_float32(vectors):
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(vectors):
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.6
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[0, 1] > sims[0, 3] + 0.3


def test_order_and_batching_do_not_change_vectors(vectors):
    again = embed_texts(TEXTS[::-1], batch_size=1)[::-1]
    assert np.allclose(again, vectors, atol=1e-5)


def test_matches_the_sentence_transformers_pipeline(vectors):
    st = pytest.importorskip("sentence_transformers")  # the reference pipeline for these weights

    from llmfeedback_assets.embedding.encoder import default_model_path

    model = st.SentenceTransformer(str(default_model_path()), device="cpu")
    ref = model.encode(TEXTS, normalize_embeddings=True)
    assert np.allclose(ref, vectors, atol=1e-4)


def test_text_hash_is_a_stable_hex_prefix_of_the_content():
    assert text_hash("abc") == text_hash("abc") != text_hash("abd")
    assert len(text_hash("abc")) == 16 and int(text_hash("abc"), 16) >= 0
    with pytest.raises(TypeError, match="must be a str"):
        text_hash(None)


def test_bad_input():
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        embed_texts(["ok", None])
    with pytest.raises(FileNotFoundError, match="config.json"):
        embed_texts(["x"], model_path="/nonexistent/model")
    assert embed_texts([]).shape == (0, 384)
