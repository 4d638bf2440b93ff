"""Reward models: losses, training data, training on synthetic feedback, save/reload, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from llmfeedback_assets.reward import (
    RewardModelError,
    load_reward_model,
    loss_curve_png,
    pairwise_loss,
    predicted_rating,
    preference_pairs,
    rating_examples,
    rating_loss,
    rerank_best_of_n,
    save_reward_model,
    score,
    train_rankings_reward_model,
    train_ratings_reward_model,
)
from llmfeedback_assets_tests.support.synthetic_feedback import (
    FILLER,
    GOOD,
    QUESTIONS,
    TOPICS,
    synthetic_feedback,
)

# -- losses ----------------------------------------------------------------------------------------------


def test_pairwise_loss_hand_computed():
    rc, rr = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    # -log σ(1) = log(1 + e^-1) = 0.3132617; -log σ(-1) = log(1 + e) = 1.3132617
    assert pairwise_loss(rc, rr).item() == pytest.approx((0.3132617 + 1.3132617) / 2, abs=1e-6)
    # margin 0.5: -log σ(0.5) = 0.4740770; -log σ(-1.5) = 1.7014133
    assert pairwise_loss(rc, rr, margin=0.5).item() == pytest.approx((0.4740770 + 1.7014133) / 2, abs=1e-6)
    # per-pair margins [0, 1]: 0.3132617 and -log σ(-2) = 2.1269280
    assert pairwise_loss(rc, rr, torch.tensor([0.0, 1.0])).item() == pytest.approx(
        (0.3132617 + 2.1269280) / 2, abs=1e-6)
    assert pairwise_loss(torch.tensor([0.0]), torch.tensor([0.0])).item() == pytest.approx(math.log(2),
                                                                                            abs=1e-7)
    rc = torch.tensor([0.3], requires_grad=True)
    pairwise_loss(rc, torch.tensor([0.0])).backward()
    assert rc.grad.item() == pytest.approx(-(1 - 1 / (1 + math.exp(-0.3))), abs=1e-6)  # pushes r_chosen up


def test_rating_loss_hand_computed():
    # σ(0) = 0.5 vs (4-1)/6 = 0.5; σ(ln 3) = 0.75 vs (7-1)/6 = 1 -> mean of (0, 0.0625)
    logits = torch.tensor([0.0, math.log(3.0)])
    assert rating_loss(logits, torch.tensor([4, 7])).item() == pytest.approx(0.03125, abs=1e-7)
    # σ(0) = 0.5 vs (1-1)/6 = 0 -> 0.25
    assert rating_loss(torch.tensor([0.0]), [1]).item() == pytest.approx(0.25, abs=1e-7)
    with pytest.raises(RewardModelError, match="1–7"):
        rating_loss(torch.tensor([0.0]), torch.tensor([8.0]))


# -- training data ---------------------------------------------------------------------------------------


def test_preference_pairs_orient_drop_and_group():
    df = pd.DataFrame({
        "instruction": ["p1", "p1", "p1", "p2", "p2", "p3", "p4", "p5"],
        "input": ["nan", "", "", "", "", "", "", ""],
        "response1": ["x", "y", "z", "u", "v", "same", "k", "m"],
        "response2": ["y", "z", "x", "v", "w", "same", "l", "n"],
        "ranking": ["(a)", "(b)", "equal", "a", None, "a", "b", "a"],
    })
    pp = preference_pairs(df, val_fraction=0.4, seed=3)
    assert (pp.n_ties, pp.n_unparsed, pp.n_identical) == (1, 1, 1)
    both = pd.concat([pp.train, pp.val])
    assert set(map(tuple, both[["prompt", "chosen", "rejected"]].to_numpy())) == {
        ("p1", "x", "y"), ("p1", "z", "y"), ("p2", "u", "v"), ("p4", "l", "k"), ("p5", "m", "n")}
    assert not set(pp.train["prompt"]) & set(pp.val["prompt"])
    assert len(pp.val) > 0 and len(pp.train) > 0
    again = preference_pairs(df, val_fraction=0.4, seed=3)
    assert again.val.equals(pp.val)


def test_preference_pairs_from_pairwise_judgments_and_margins():
    df = pd.DataFrame({"prompt": ["q", "q", "r"], "response_a": ["a1", "a2", "a3"],
                       "response_b": ["b1", "b2", "b3"], "winner": ["model_b", "tie (bothbad)", "A"],
                       "margin": [1.5, 0.0, 0.5]})
    pp = preference_pairs(df, val_fraction=0.0)
    assert pp.train[["chosen", "rejected", "margin"]].values.tolist() == [["b1", "a1", 1.5],
                                                                           ["a3", "b3", 0.5]]


def test_preference_pairs_without_usable_pairs_is_an_error():
    ties = pd.DataFrame({"instruction": ["q", "q"], "input": ["", ""], "response1": ["a", "b"],
                         "response2": ["c", "d"], "ranking": ["equal", "equal"]})
    with pytest.raises(RewardModelError, match=r"no usable preference pairs in 2 rows \(2 ties"):
        preference_pairs(ties)
    failed = ties.assign(ranking=[None, None])
    with pytest.raises(RewardModelError, match="2 parse failures"):
        preference_pairs(failed)
    with pytest.raises(RewardModelError, match="need columns"):
        preference_pairs(pd.DataFrame({"prompt": ["q"], "text": ["t"]}))


def test_rating_examples_drop_unparsed_and_reject_out_of_range():
    df = pd.DataFrame({"instruction": ["a", "a", "b"], "input": ["", "", ""], "response": ["x", "y", "z"],
                       "score": [5, None, 2]})
    ex = rating_examples(df, val_fraction=0.0)
    assert ex.n_unparsed == 1 and ex.train["score"].tolist() == [5.0, 2.0]
    with pytest.raises(RewardModelError, match="row 1: score 8"):
        rating_examples(df.assign(score=[5, 8, 2]))
    with pytest.raises(RewardModelError, match="no usable ratings"):
        rating_examples(df.assign(score=[None, None, None]))


# -- training --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth():
    return synthetic_feedback(30, 4, seed=0)


@pytest.fixture(scope="module")
def frozen_rankings(synth):
    cands, ratings, rankings = synth
    return train_rankings_reward_model(rankings, mode="frozen", epochs=20, batch_size=16, max_length=128,
                                       seed=0, eval_ratings=ratings)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A tiny random-weight BERT with a WordPiece tokenizer trained on a few sentences (no download)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny_bert")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(GOOD + FILLER + TOPICS + QUESTIONS,
                            trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]",
                            model_max_length=128).save_pretrained(path)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(path)
    return str(path)


def test_frozen_minilm_rankings_model_beats_chance(frozen_rankings):
    res = frozen_rankings
    assert res.mode == "frozen" and res.objective == "rankings"
    assert res.n_val_pairs >= 20
    assert res.val_pairwise_accuracy >= 0.8  # chance is 0.5; measured 0.97 on 29 held-out pairs
    assert res.val_rating_correlation > 0.6
    assert res.data["n_ties_dropped"] > 0
    train_loss = [v for _, v in res.curves["train_loss"]]
    assert np.mean(train_loss[-10:]) < np.mean(train_loss[:10])
    assert len(res.curves["val_loss"]) == 20


def test_frozen_minilm_ratings_model(synth):
    cands, ratings, rankings = synth
    res = train_ratings_reward_model(ratings, mode="frozen", epochs=20, batch_size=16, max_length=128, seed=0,
                                     eval_pairs=rankings)
    assert res.val_rating_correlation > 0.6
    assert res.val_pairwise_accuracy >= 0.75
    pred = predicted_rating(res, ["Explain gravity."], ["Gravity can be understood by its parts."])
    assert 1.0 <= pred[0] <= 7.0


def test_tiny_bert_full_finetune_save_and_reload(tiny_bert, synth, tmp_path):
    cands, ratings, rankings = synth
    res = train_rankings_reward_model(rankings, backbone=tiny_bert, mode="full", epochs=8, batch_size=8,
                                      learning_rate=1e-3, max_length=128, seed=0)
    assert res.mode == "full" and res.model.kind == "full"
    assert res.val_pairwise_accuracy > 0.65  # chance 0.5; measured 0.84
    train_loss = [v for _, v in res.curves["train_loss"]]
    assert np.mean(train_loss[-10:]) < np.mean(train_loss[:10])
    save_reward_model(res, tmp_path / "models", version="v1")
    folder = save_reward_model(res, tmp_path / "models", {"source": "synthetic"}, version="v2")
    assert (tmp_path / "models" / "LATEST").read_text().strip() == "v2"
    with pytest.raises(RewardModelError, match="already exists"):
        save_reward_model(res, tmp_path / "models", version="v1")
    assert {"model.safetensors", "config.json", "tokenizer.json", "card.json", "MODEL_CARD.md"} <= {
        p.name for p in folder.iterdir()}
    card = json.loads((folder / "card.json").read_text())
    assert card["metrics"]["val_pairwise_accuracy"] == pytest.approx(res.val_pairwise_accuracy)
    assert card["source"] == "synthetic" and card["config"]["mode"] == "full"
    reloaded = load_reward_model(tmp_path / "models")  # resolves LATEST
    before = score(res, cands["instruction"], cands["response"])
    after = score(reloaded, cands["instruction"], cands["response"])
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)


def test_overlong_texts_are_counted_truncated_or_dropped(tiny_bert, synth):
    cands, ratings, rankings = synth
    res = train_ratings_reward_model(ratings, backbone=tiny_bert, mode="full", epochs=1, batch_size=16,
                                     max_length=90, seed=0, overlong="drop")
    tr = res.truncation
    assert tr.max_length == 90 and tr.n_texts == 120 and 0 < tr.n_overlong < 120
    assert res.data["n_train_ratings_used"] == res.data["n_train_ratings"] - tr.n_dropped_examples
    assert tr.n_dropped_examples > 0
    res = train_ratings_reward_model(ratings, backbone=tiny_bert, mode="full", epochs=1, batch_size=16,
                                     max_length=1000, seed=0)  # clamped to the model's 128 positions
    assert res.model.max_length == 128
    with pytest.raises(RewardModelError, match="longer than max_length=8"):
        train_rankings_reward_model(rankings, backbone=tiny_bert, mode="full", epochs=1, max_length=8,
                                    overlong="drop")


def test_frozen_model_reloads_and_scores_the_same(frozen_rankings, synth, tmp_path):
    cands = synth[0].iloc[:40]
    folder = save_reward_model(frozen_rankings, tmp_path, {"run_id": "r2"})
    assert (folder / "head.safetensors").exists() and (folder / "model.safetensors").exists()
    assert json.loads((folder / "card.json").read_text())["run_id"] == "r2"
    reloaded = load_reward_model(folder)
    assert reloaded.kind == "frozen" and reloaded.objective == "rankings"
    before = score(frozen_rankings, cands["instruction"], cands["response"])
    np.testing.assert_allclose(score(reloaded, cands["instruction"], cands["response"]), before, atol=1e-6)
    assert np.corrcoef(before, cands["quality"])[0, 1] > 0.5  # the reward follows the known feature


def test_missing_or_corrupt_saved_model_is_a_clear_error(tiny_bert, synth, tmp_path):
    _, _, rankings = synth
    res = train_rankings_reward_model(rankings, backbone=tiny_bert, mode="full", epochs=1, max_length=64)
    with pytest.raises(RewardModelError, match="does not exist"):
        load_reward_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RewardModelError, match="no saved reward model"):
        load_reward_model(tmp_path / "empty")

    folder = save_reward_model(res, tmp_path / "m", version="v1")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(RewardModelError, match=r"model.safetensors is corrupt"):
        load_reward_model(folder)

    weights.write_bytes(b"not a safetensors file")  # corrupt, with a card that agrees (re-hashed)
    card = json.loads((folder / "card.json").read_text())
    import hashlib
    card["files"]["model.safetensors"] = hashlib.sha256(b"not a safetensors file").hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(RewardModelError, match="cannot load reward model"):
        load_reward_model(folder)

    weights.unlink()
    with pytest.raises(RewardModelError, match="missing file model.safetensors"):
        load_reward_model(folder)
    (folder / "card.json").write_text("{not json")
    with pytest.raises(RewardModelError, match="card.json is corrupt"):
        load_reward_model(folder)


def test_rerank_best_of_n_picks_better_responses(frozen_rankings, synth):
    cands = synth[0].iloc[:48].assign(responder_model="sim")  # 12 prompts x 4 samples
    picks = rerank_best_of_n(cands, {"rankings_rm": frozen_rankings})
    assert len(picks) == cands["instruction"].nunique()
    assert (picks["n_candidates"] == 4).all() and picks.attrs["n_overlong"] == {"rankings_rm": 0}
    # the known feature: picks are better than an average candidate and usually the best one
    assert picks["quality"].mean() > cands["quality"].mean() + 0.15
    best = cands.groupby("instruction")["quality"].max()
    is_best = picks.set_index("instruction")["quality"] >= best.loc[picks["instruction"]].to_numpy() - 1e-9
    assert is_best.mean() > 0.6


def test_loss_curve_png(frozen_rankings):
    png = loss_curve_png(frozen_rankings)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert loss_curve_png({"ratings": [0.3, 0.2, 0.1], "empty": []})[:4] == b"\x89PNG"
