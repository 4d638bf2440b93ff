"""The embedding store: each input embedded once per backbone, across store instances, runs and processes;
vectors read back equal the ones the encoder computes."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from llmfeedback_assets.embedding import encoder as embed
from llmfeedback_assets.embedding.store import EmbeddingStore, embed_pairs
from llmfeedback_assets.warehouse import Warehouse

PROMPTS = ["How do I bake sourdough bread?", "Name three prime numbers.", "What causes tides?"]
RESPONSES = ["Mix flour, water and starter; let it rise overnight, shape it and bake it hot. " * 6,
             "2, 3 and 5.", "Mostly the moon's gravity, and the sun's to a lesser degree."]




@pytest.fixture(scope="module")
def encoder():
    return embed.load_encoder(max_length=256, device="cpu")


def test_keys_and_backbone_ids(encoder, tmp_path):
    assert embed.pair_hash("a", "bc") != embed.pair_hash("ab", "c") != embed.text_hash("ab\x1fc")
    assert embed.pair_hash("a", "b") == embed.pair_hash("a", "b")
    # the id names what changes a vector, and the cheap one (no weights loaded) agrees with the loaded one
    assert encoder.backbone == embed.backbone_for(max_length=256)
    assert encoder.backbone.endswith("|mean|256|fp32")
    others = {embed.backbone_for(max_length=64), embed.backbone_for(precision="bf16"),
              embed.backbone_for(max_length=100_000)}
    assert encoder.backbone not in others and len(others) == 3
    assert "|512|" in embed.backbone_for(max_length=100_000)  # capped by the model's position embeddings
    with pytest.raises(FileNotFoundError, match="config.json"):
        embed.backbone_for(tmp_path)


def test_length_batches_cover_every_index_once_with_little_padding():
    lengths = np.random.default_rng(0).integers(1, 300, size=500)
    batches = embed.length_batches(lengths, 32, max_tokens=2048)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(500))
    assert all(len(b) <= 32 and len(b) * lengths[b].max() <= max(2048, lengths[b].max()) for b in batches)
    assert np.all(np.diff(lengths[flat]) <= 0)  # longest first, so each batch is nearly one length
    with pytest.raises(ValueError, match="batch_size"):
        embed.length_batches(lengths, 0)


def test_store_embeds_each_pair_once_and_reads_back_what_was_computed(encoder, calls, tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    prompts, responses = PROMPTS + PROMPTS[:1], RESPONSES + RESPONSES[:1]  # a repeat is embedded once
    store = EmbeddingStore(wh)
    x = embed_pairs(store, encoder, prompts, responses)
    assert calls == [3] and store.last.embedded == 3 and wh.count("embedding_store") == 3
    fresh = encoder.embed_pairs(PROMPTS, RESPONSES, batch_size=1)  # unbatched: no padding at all
    np.testing.assert_allclose(x[:3], fresh, atol=1e-5)
    np.testing.assert_array_equal(x[3], x[0])

    # another step (a new store on the same file) and a second run read, never embed
    calls.clear()
    again = embed_pairs(EmbeddingStore(wh), encoder, PROMPTS, RESPONSES)
    np.testing.assert_allclose(again, x[:3], atol=0)
    assert calls == [] and wh.count("embedding_store") == 3


def test_other_max_length_gets_its_own_vectors(encoder, calls, tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    short = embed.load_encoder(max_length=16, device="cpu")
    a = embed_pairs(EmbeddingStore(wh), encoder, PROMPTS, RESPONSES)
    b = embed_pairs(EmbeddingStore(wh), short, PROMPTS, RESPONSES)
    assert calls == [3, 3] and wh.count("embedding_store") == 6
    assert wh.count("embedding_store", "WHERE backbone = ?", [short.backbone]) == 3
    assert not np.allclose(a[0], b[0], atol=1e-3)  # the long pair was cut at 16 tokens
    np.testing.assert_allclose(b, short.embed_pairs(PROMPTS, RESPONSES), atol=1e-5)
    calls.clear()
    embed_pairs(EmbeddingStore(wh), short, PROMPTS, RESPONSES)
    assert calls == []


def test_in_memory_store_and_bad_compute():
    store = EmbeddingStore()
    x = store.vectors("b", ["k1", "k2", "k1"], lambda pos: np.eye(2, dtype=np.float32)[: len(pos)])
    np.testing.assert_array_equal(x, [[1, 0], [0, 1], [1, 0]])
    assert (store.last.distinct, store.last.embedded) == (2, 2) and store.count("b") == 2
    store.vectors("b", ["k2"], lambda pos: pytest.fail("k2 is stored"))
    assert store.last.from_memory == 1 and store.total.embedded == 2
    with pytest.raises(ValueError, match="1 vectors for 2 inputs"):
        store.vectors("b", ["x", "y"], lambda pos: np.zeros((1, 2)))


# -- two processes filling one store at once -------------------------------------------------------------


def _vector(key: str) -> np.ndarray:
    return np.random.default_rng(int(key, 16)).standard_normal(8).astype(np.float32)


def _fill(path: str, keys: list[str], barrier, out) -> None:
    barrier.wait()
    computed = 0
    for s in range(0, len(keys), 10):  # many short transactions, interleaved with the other process
        chunk = keys[s:s + 10]
        store = EmbeddingStore(Warehouse(path))
        store.vectors("bb", chunk, lambda pos, chunk=chunk: np.stack([_vector(chunk[i]) for i in pos]))
        computed += store.last.embedded
    out.put(computed)


def test_concurrent_fills_lose_nothing_and_duplicate_nothing(tmp_path):
    path = str(tmp_path / "w.duckdb")
    Warehouse(path).ensure_schema()
    keys = [f"{i:016x}" for i in range(1, 451)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_fill, args=(path, part, barrier, out)) for part in (keys[:300], keys[150:])]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    computed = out.get(timeout=5) + out.get(timeout=5)
    assert 450 <= computed <= 600  # the 150 shared keys: embedded by one process or, racing, by both
    rows = Warehouse(path).query("SELECT text_hash, vector FROM embedding_store WHERE backbone = 'bb'")
    assert len(rows) == 450 and rows["text_hash"].is_unique and set(rows["text_hash"]) == set(keys)
    for k, v in zip(rows["text_hash"], rows["vector"], strict=True):
        np.testing.assert_array_equal(v, _vector(k))
