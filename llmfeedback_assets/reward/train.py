"""Training reward models on rankings or on ratings: ONE loop, a loss per objective.

- rankings: the pairwise loss −log σ(r_chosen − r_rejected [− margin]) on chosen/rejected pairs;
- ratings: regression of σ(r) on (score − 1)/6 with mean squared error.

As in trl's `RewardTrainer`, an objective's `compute_loss` turns the rewards of a batch into its loss and its
metrics; the chosen and rejected texts of a batch of pairs go through the model together (chosen half
first). Everything else is shared: the model, tokenisation and the truncation report, frozen-mode
embedding, AdamW with linear decay, per-epoch validation and the final validation figures.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from llmfeedback_assets.embedding import EmbeddingStore
from llmfeedback_assets.reward.data import (
    Mode,
    Objective,
    Overlong,
    Precision,
    PreferencePairs,
    RatingExamples,
    RewardModelError,
    TrainResult,
    TruncationReport,
    pairs_from_ratings,
    preference_pairs,
    rating_examples,
    restrict_to_unseen,
)
from llmfeedback_assets.reward.feedback import RATING_MAX, RATING_MIN
from llmfeedback_assets.reward.network import RewardHead, TextBank, build_model, resolve_device

DEFAULT_LR = {"frozen": 1e-3, "full": 3e-5}

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


def _pairwise_accuracy(rc: np.ndarray, rr: np.ndarray) -> float | None:
    """Share of pairs whose chosen response gets the higher reward (a tie counts half)."""
    if len(rc) == 0:
        return None
    return float(np.mean((rc > rr) + 0.5 * (rc == rr)))


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


# -- the objectives --------------------------------------------------------------------------------------


def _text_columns(bank: TextBank, df: pd.DataFrame, *columns: str) -> np.ndarray:
    """Bank indices of (prompt, df[column]) texts: one row per example, one column per text."""
    return np.stack([bank.add(df["prompt"], df[c]) for c in columns], axis=1)


class _Task:
    """One objective's examples as rows of bank indices (pairs: chosen, rejected; ratings: response), the
    validation sets of the final figures, and its loss."""

    objective: Objective
    unit: str  # what the examples are, for messages: "pairs", "ratings"
    examples: str  # what the training examples are, for messages: "training pairs", "training responses"
    train: np.ndarray  # (n, texts per example)
    val: np.ndarray  # validation examples, for the validation loss
    acc_pairs: np.ndarray  # (m, 2) chosen, rejected: validation pairwise accuracy
    corr_texts: np.ndarray  # rated texts and their scores: validation rating correlation
    corr_scores: np.ndarray

    def add_texts(self, bank: TextBank) -> None:
        raise NotImplementedError

    def keep(self, mask: np.ndarray) -> None:
        """Keep only these training examples (overlong="drop")."""
        self.train = self.train[mask]

    def train_target(self, idx: np.ndarray, device: torch.device):
        raise NotImplementedError

    def val_target(self):
        raise NotImplementedError

    def compute_loss(self, rewards: torch.Tensor, target) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of a batch (rewards of its texts, column by column) and metrics to follow training."""
        raise NotImplementedError

    def data(self) -> dict:
        raise NotImplementedError

    def notes(self) -> list[str]:
        raise NotImplementedError

    def config(self) -> dict:
        return {}


class _Rankings(_Task):
    """Pairwise loss on chosen/rejected pairs (a per-pair `margin` column overrides the constant margin);
    validated on the held-out pairs and, if given, on rated responses of prompts not trained on."""

    objective = "rankings"
    unit, examples = "pairs", "training pairs"

    def __init__(self, pairs: PreferencePairs, margin: float | None, eval_ratings: pd.DataFrame | None):
        self.pairs, self.margin, self.eval_ratings = pairs, margin, eval_ratings
        tr = pairs.train
        self.margins = tr["margin"].to_numpy(np.float32) if "margin" in tr.columns else None

    def add_texts(self, bank: TextBank) -> None:
        tr, va = self.pairs.train, self.pairs.val
        self.train = _text_columns(bank, tr, "chosen", "rejected")
        self.val = self.acc_pairs = _text_columns(bank, va, "chosen", "rejected")
        ev = restrict_to_unseen(self.eval_ratings, set(tr["prompt"]), "eval_ratings")
        if ev is None:
            self.corr_texts, self.corr_scores = np.zeros(0, np.int64), np.zeros(0)
        else:
            self.corr_texts = bank.add(ev["prompt"], ev["response"].astype(str))
            self.corr_scores = pd.to_numeric(ev["score"], errors="coerce").to_numpy(float)

    def keep(self, mask: np.ndarray) -> None:
        super().keep(mask)
        self.margins = self.margins[mask] if self.margins is not None else None

    def train_target(self, idx: np.ndarray, device: torch.device):
        return torch.as_tensor(self.margins[idx], device=device) if self.margins is not None else self.margin

    def val_target(self):
        return self.margin

    def compute_loss(self, rewards: torch.Tensor, target) -> tuple[torch.Tensor, dict[str, float]]:
        r_chosen, r_rejected = rewards.chunk(2)
        loss = pairwise_loss(r_chosen, r_rejected, target)
        with torch.no_grad():
            gap = r_chosen - r_rejected
            metrics = {"accuracy": float(((gap > 0) + 0.5 * (gap == 0)).mean()), "margin": float(gap.mean())}
        return loss, metrics

    def data(self) -> dict:
        return self.pairs.summary() | {"n_train_pairs_used": len(self.train),
                                       "n_eval_ratings": len(self.corr_texts)}

    def notes(self) -> list[str]:
        if len(self.val):
            return []
        return ["no validation pairs (fewer than two prompts or val_fraction=0): accuracy not measured"]

    def config(self) -> dict:
        return {"margin": self.margin}


class _Ratings(_Task):
    """σ(r) regressed on (score − 1)/6; validated on the held-out ratings (loss, rating correlation) and on
    pairs: `eval_pairs` of prompts not trained on, else pairs of differently rated validation responses."""

    objective = "ratings"
    unit, examples = "ratings", "training responses"

    def __init__(self, ratings: RatingExamples, eval_pairs: pd.DataFrame | None):
        self.ratings, self.eval_pairs = ratings, eval_pairs
        self.scores = ratings.train["score"].to_numpy(np.float32)
        self.val_scores = ratings.val["score"].to_numpy(np.float32)

    def add_texts(self, bank: TextBank) -> None:
        tr, va = self.ratings.train, self.ratings.val
        self.train = _text_columns(bank, tr, "response")
        self.val = _text_columns(bank, va, "response")
        self.corr_texts, self.corr_scores = self.val[:, 0], self.val_scores.astype(float)
        if self.eval_pairs is not None:
            ep = preference_pairs(self.eval_pairs, val_fraction=0.0).train
            ep = ep[~ep["prompt"].isin(set(tr["prompt"]))]
            self.pair_source = "eval_pairs"
        else:
            ep = pairs_from_ratings(va)
            self.pair_source = "validation ratings"
        self.acc_pairs = _text_columns(bank, ep, "chosen", "rejected")

    def keep(self, mask: np.ndarray) -> None:
        super().keep(mask)
        self.scores = self.scores[mask]

    def train_target(self, idx: np.ndarray, device: torch.device):
        return torch.as_tensor(self.scores[idx], device=device)

    def val_target(self):
        return torch.as_tensor(self.val_scores)

    def compute_loss(self, rewards: torch.Tensor, target) -> tuple[torch.Tensor, dict[str, float]]:
        loss = rating_loss(rewards, target)
        with torch.no_grad():
            predicted = RATING_MIN + (RATING_MAX - RATING_MIN) * torch.sigmoid(rewards)
            metrics = {"rating_mae": float((predicted - target).abs().mean())}
        return loss, metrics

    def data(self) -> dict:
        return self.ratings.summary() | {"n_train_ratings_used": len(self.train),
                                         "val_pairs_source": self.pair_source}

    def notes(self) -> list[str]:
        notes = [f"validation pairwise accuracy measured on {self.pair_source}"]
        if len(self.val) == 0:
            notes.append("no validation ratings (fewer than two prompts or val_fraction=0)")
        return notes


# -- the loop --------------------------------------------------------------------------------------------


def _batches(n: int, batch_size: int, rng: np.random.Generator, lengths: np.ndarray | None
             ) -> list[np.ndarray]:
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


def _val_rewards(bank: TextBank, texts: np.ndarray) -> torch.Tensor:
    """Rewards of validation examples without gradients, column by column (all chosen, then all rejected)."""
    return torch.as_tensor(np.concatenate([bank.score(col) for col in texts.T]))


def _fit(task: _Task, bank: TextBank, device: torch.device, *, epochs: int, batch_size: int,
         learning_rate: float, seed: int, max_steps: int | None, lengths: np.ndarray | None,
         weight_decay: float):
    """The loop: AdamW with linear decay, per-step train loss, per-epoch validation loss; the objective's
    metrics alongside. Returns (curves, metric curves, seconds, examples seen, seconds of each step)."""
    if epochs < 1 or batch_size < 1:
        raise RewardModelError(f"epochs and batch_size must be >= 1 (got {epochs}, {batch_size})")
    model = bank.model
    params = [p for p in (model.head if model.kind == "frozen" else model.encoder).parameters()
              if p.requires_grad]
    try:  # the fused kernel (CPU and CUDA) is faster and allocates no per-step temporaries
        optim = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        optim = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    n_train = len(task.train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: max(0.0, 1.0 - s / max(1, total)))
    rng = np.random.default_rng(seed)
    curves: dict[str, list[tuple[int, float]]] = {"train_loss": [], "val_loss": []}
    metric_curves: dict[str, list[tuple[int, float]]] = {}

    def record(split: str, step: int, loss: torch.Tensor, metrics: dict[str, float]) -> None:
        curves[f"{split}_loss"].append((step, float(loss.detach())))
        for name, value in metrics.items():
            metric_curves.setdefault(f"{split}_{name}", []).append((step, value))

    step, seen = 0, 0
    step_seconds: list[float] = []
    start = time.perf_counter()
    while step < total:
        for idx in _batches(n_train, batch_size, rng, lengths):
            t0 = time.perf_counter()
            model.train()
            rewards = bank.rewards(task.train[idx].T.ravel())  # all chosen, then all rejected
            loss, metrics = task.compute_loss(rewards, task.train_target(idx, device))
            if not torch.isfinite(loss):
                raise RewardModelError(f"training diverged at step {step}: loss {loss.item()}")
            loss.backward()
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)  # free the gradients before the next forward pass
            step += 1
            seen += len(idx)
            record("train", step, loss, metrics)
            step_seconds.append(time.perf_counter() - t0)
            if step >= total:
                break
        if len(task.val):
            record("val", step, *task.compute_loss(_val_rewards(bank, task.val), task.val_target()))
    return curves, metric_curves, time.perf_counter() - start, seen, step_seconds


def _truncation(task: _Task, bank: TextBank, overlong: Overlong) -> TruncationReport:
    """Count the texts longer than the model's maximum length; with overlong="drop", drop the training
    examples with such a text (all dropped is an error)."""
    max_length = bank.model.max_length
    report = TruncationReport(max_length, overlong, n_texts=len(bank.ids),
                              n_overlong=int(bank.overlong.sum()))
    if overlong == "drop":
        keep = ~bank.overlong[task.train].any(axis=1)
        report.n_dropped_examples = int((~keep).sum())
        task.keep(keep)
        if len(task.train) == 0:
            raise RewardModelError(
                f"no usable {task.unit}: all {len(keep)} {task.examples} are longer than "
                f"max_length={max_length} tokens (use overlong='truncate' or a larger max_length)")
    elif overlong != "truncate":
        raise RewardModelError(f"overlong must be 'truncate' or 'drop', got {overlong!r}")
    return report


def _standardize_head(head: RewardHead, train_embeddings: torch.Tensor) -> None:
    """Fix the head's input scaling from the training embeddings (saved with the head)."""
    head.mean.copy_(train_embeddings.mean(0))
    head.scale.copy_(train_embeddings.std(0).clamp(min=1e-6) if len(train_embeddings) > 1
                     else torch.ones_like(head.scale))


@contextlib.contextmanager
def _head_threads(mode: Mode, device: torch.device):
    """One torch thread while a frozen model's head trains on the CPU: its matrices are tiny, so more threads
    only add hand-offs, and on a loaded machine each of the ~2,000 steps waits for a second thread to be
    scheduled (measured: 25 ms -> 1.5 ms per step on 2 busy cores). The setting is restored afterwards."""
    if mode != "frozen" or device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _disable_dropout(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0


def _train(task: _Task, *, backbone: str | None, mode: Mode, epochs: int, batch_size: int,
           learning_rate: float | None, max_length: int, overlong: Overlong, seed: int, device,
           max_steps: int | None, disable_dropout: bool, group_by_length: bool, precision: Precision,
           store: EmbeddingStore | None = None) -> TrainResult:
    """Build the model, tokenise the task's texts (counting, maybe dropping, overlong ones), embed them once
    in frozen mode (through `store`: texts it holds are read, not embedded), run the loop and measure the
    validation figures."""
    device = resolve_device(device)
    lr = learning_rate if learning_rate is not None else DEFAULT_LR[mode]
    model = build_model(backbone, mode, task.objective, max_length, seed, device, precision)
    if mode == "full" and disable_dropout:
        _disable_dropout(model.encoder)
    bank = TextBank(model)
    task.add_texts(bank)
    bank.tokenize()
    truncation = _truncation(task, bank, overlong)

    cpu_start = time.process_time()  # CPU time, all threads: a load-independent cost measure
    embed_seconds = 0.0
    if mode == "frozen":
        t0 = time.perf_counter()
        bank.embed_all(store)
        embed_seconds = time.perf_counter() - t0
        _standardize_head(model.head, bank.embeddings[torch.as_tensor(task.train.T.ravel())])
    lengths = np.array([len(ids) for ids in bank.ids])[task.train].sum(axis=1) if group_by_length else None
    with _head_threads(mode, device):
        curves, metric_curves, seconds, seen, step_seconds = _fit(
            task, bank, device, epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed,
            max_steps=max_steps, lengths=lengths, weight_decay=0.01 if mode == "frozen" else 0.0)
        cpu_seconds = time.process_time() - cpu_start
        pairs = task.acc_pairs
        acc = _pairwise_accuracy(bank.score(pairs[:, 0]), bank.score(pairs[:, 1])) if len(pairs) else None
        corr = _spearman(bank.score(task.corr_texts), task.corr_scores) if len(task.corr_texts) else None
    model.eval()
    config = {"backbone": model.backbone, "mode": mode, "epochs": epochs, "batch_size": batch_size,
              "learning_rate": lr, "max_length": model.max_length, "requested_max_length": max_length,
              "overlong": overlong, "seed": seed, "device": str(device), "max_steps": max_steps,
              "group_by_length": group_by_length, "precision": model.precision}
    return TrainResult(
        model=model, objective=task.objective, mode=mode, curves=curves, val_pairwise_accuracy=acc,
        val_rating_correlation=corr, n_val_pairs=len(pairs), n_val_ratings=len(task.corr_texts),
        truncation=truncation, data=task.data(), config=config | task.config(), train_seconds=seconds,
        embed_seconds=embed_seconds, examples_per_s=seen / max(seconds, 1e-9), notes=task.notes(),
        step_seconds=step_seconds, cpu_seconds=cpu_seconds, metric_curves=metric_curves,
    )


# -- the two trainers ------------------------------------------------------------------------------------


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
    embedding_store: EmbeddingStore | None = None,
) -> TrainResult:
    """Train a reward model with the pairwise loss on chosen/rejected pairs.

    `pairs`: a PreferencePairs or any frame `preference_pairs` accepts (then split with val_fraction/seed).
    `margin`: a constant margin; a `margin` column in the pairs overrides it per pair. `eval_ratings`
    (optional; prompt or instruction+input, response, score): rated responses of prompts not trained on,
    for the validation rating correlation. Learning rate defaults to 1e-3 (frozen head) or 3e-5 (full).
    `precision="bf16"` runs the encoder under bf16 autocast (weights and optimizer stay fp32).
    `group_by_length` batches pairs of similar length (less padding); `max_steps` caps the optimizer steps.
    `embedding_store` (frozen mode): where embeddings are read from and added to (default: in this call only).
    """
    if isinstance(pairs, pd.DataFrame):
        pairs = preference_pairs(pairs, val_fraction=val_fraction, seed=seed)
    if len(pairs.train) == 0:
        raise RewardModelError("no training pairs (every prompt went to validation?)")
    return _train(_Rankings(pairs, margin, eval_ratings), backbone=backbone, mode=mode, epochs=epochs,
                  batch_size=batch_size, learning_rate=learning_rate, max_length=max_length,
                  overlong=overlong, seed=seed, device=device, max_steps=max_steps,
                  disable_dropout=disable_dropout, group_by_length=group_by_length, precision=precision,
                  store=embedding_store)


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
    embedding_store: EmbeddingStore | None = None,
) -> TrainResult:
    """Train a reward model by regressing σ(r) on (score − 1)/6.

    `ratings`: a RatingExamples or a frame (prompt or instruction+input, response, score). Validation
    pairwise accuracy is measured on `eval_pairs` (any frame `preference_pairs` accepts, restricted to
    prompts not trained on) when given, else on within-prompt pairs of differently rated validation
    responses; the rating correlation (Spearman) on the validation ratings. `embedding_store`: as for
    `train_rankings_reward_model`.
    """
    if isinstance(ratings, pd.DataFrame):
        ratings = rating_examples(ratings, val_fraction=val_fraction, seed=seed)
    if len(ratings.train) == 0:
        raise RewardModelError("no training ratings (every prompt went to validation?)")
    return _train(_Ratings(ratings, eval_pairs), backbone=backbone, mode=mode, epochs=epochs,
                  batch_size=batch_size, learning_rate=learning_rate, max_length=max_length,
                  overlong=overlong, seed=seed, device=device, max_steps=max_steps,
                  disable_dropout=disable_dropout, group_by_length=group_by_length, precision=precision,
                  store=embedding_store)
