"""Glue between the warehouse tables and the reward domain (issue 7): the frames the reward assets read and
write. No Dagster here: the assets in `defs/reward.py` call one function each.

Long texts (prompts, responses, judge replies) are stored once: these tables refer to them by id and by
request key (the raw judge reply is in `llm_journal`).

Choices documented here because the config has no field for them:
- training and validation share ONE split by prompt (the one `reward.preference_pairs` draws over the
  ranked prompts, VAL_FRACTION of them): both reward models are validated on the same held-out pairs and
  ratings, so their accuracies compare like with like;
- preference pairs use turn 1 only (a reward model reads one prompt and one answer, not a conversation);
- the best-of-n reference model is `reward.reference_model`, else `judging.baseline_model`, else the last
  responder; the win-rate judge is the first configured judge that is not the reference model.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import reward
from ..config import Config, ConfigError
from ..embedding import EmbeddingStore
from ..embedding import encoder as embed
from ..ids import stable_id
from ..ingest.answers import read_answers
from ..judging import generate_responses
from ..llm import ChatRequest, Gateway, RunStats, merge_stats
from ..warehouse import Warehouse, columns
from . import imported

VAL_FRACTION = 0.2
RATINGS_MODEL = "ratings_reward_model"
RANKINGS_MODEL = "rankings_reward_model"
BASELINE_PICK = "__sample_0__"  # the responder's first sample, no reranking: the baseline win rate
ALL_RESPONDERS = "__all__"


# -- inputs ----------------------------------------------------------------------------------------------


def turn1_prompts(prompts: pd.DataFrame) -> pd.DataFrame:
    """The prompts table cut to its first turn (what best-of-n samples and reward models read)."""
    out = prompts.copy()
    out["turns"] = [[list(t)[0]] for t in out["turns"]]
    out["reference"] = [None] * len(out)
    out["n_turns"] = 1
    return out


def turn1_items(prompts: pd.DataFrame, responses: pd.DataFrame, *, all_samples: bool = False) -> pd.DataFrame:
    """Every answered first turn (status ok; sample 0, or every sample with `all_samples`: recorded feedback
    ranks several samples of one model, as sparse feedback's files do) with its question: prompt_id,
    question, responder_model, response_id, text."""
    questions = pd.DataFrame({"prompt_id": prompts["prompt_id"],
                              "question": [str(list(t)[0]) for t in prompts["turns"]]})
    ok = responses[(responses["turn"] == 1) & (responses["status"] == "ok")
                   & ((responses["sample"] == 0) | all_samples)]
    items = ok[["prompt_id", "responder_model", "response_id", "text"]].merge(questions, on="prompt_id")
    return items[["prompt_id", "question", "responder_model", "response_id", "text"]].sort_values(
        ["prompt_id", "responder_model"]).reset_index(drop=True)


def _judged_items(items: pd.DataFrame, judge: str, allow_self_judging: bool) -> pd.DataFrame:
    return items if allow_self_judging else items[items["responder_model"] != judge].reset_index(drop=True)


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame(columns=columns(table))


# -- ratings and rankings by one judge -------------------------------------------------------------------


def _rating_requests(judge: str, questions, texts) -> list[ChatRequest]:
    return [ChatRequest.of(judge, reward.rating_messages(q, "", t), tag="rating")
            for q, t in zip(questions, texts, strict=True)]


def _ranking_requests(judge: str, questions, first, second) -> list[ChatRequest]:
    """Each pair asked in both orders: `first` shown as (a), then `second` shown as (a)."""
    out = []
    for q, a, b in zip(questions, first, second, strict=True):
        out.append(ChatRequest.of(judge, reward.ranking_messages(q, "", a, b), tag="ranking"))
        out.append(ChatRequest.of(judge, reward.ranking_messages(q, "", b, a), tag="ranking"))
    return out


def _replies(results) -> list[str | None]:
    return [r.text if r.ok else None for r in results]


def rate_responses(gateway: Gateway, judge: str, items: pd.DataFrame, allow_self_judging: bool = False
                   ) -> tuple[pd.DataFrame, RunStats | None]:
    """The `feedback_ratings` rows of one judge: a 1–7 rating of every answered first turn."""
    items = _judged_items(items, judge, allow_self_judging)
    if items.empty:
        return _empty("feedback_ratings"), None
    results, stats = gateway.run(_rating_requests(judge, items["question"], items["text"]))
    table = reward.rating_table(items.assign(instruction=items["question"], input="", response=items["text"]),
                                _replies(results))
    status = [s if r.ok else "call_failed" for s, r in zip(table["parse_status"], results, strict=True)]
    out = pd.DataFrame({
        "rating_id": [stable_id("rating", judge, rid) for rid in items["response_id"]],
        "judge_model": judge, "prompt_id": items["prompt_id"], "responder_model": items["responder_model"],
        "response_id": items["response_id"], "score": table["score"], "parse_status": status,
        "request_key": [r.request_key for r in results], "source": "judged"})
    return out[columns("feedback_ratings")], stats


def rank_responses(gateway: Gateway, judge: str, items: pd.DataFrame, allow_self_judging: bool = False
                   ) -> tuple[pd.DataFrame, RunStats | None]:
    """The `feedback_rankings` rows of one judge: every pair of responders' answers to a prompt, asked in
    both orders and combined (the same letter twice is `equal`; a missing verdict leaves ranking empty)."""
    items = _judged_items(items, judge, allow_self_judging)
    pairs = [(a, b) for _, g in items.groupby("prompt_id", sort=True)
             for a, b in itertools.combinations(g.sort_values("responder_model").to_dict("records"), 2)]
    if not pairs:
        return _empty("feedback_rankings"), None
    frame = pd.DataFrame({
        "prompt_id": [a["prompt_id"] for a, _ in pairs], "instruction": [a["question"] for a, _ in pairs],
        "input": "", "model_1": [a["responder_model"] for a, _ in pairs],
        "model_2": [b["responder_model"] for _, b in pairs],
        "response_1_id": [a["response_id"] for a, _ in pairs],
        "response_2_id": [b["response_id"] for _, b in pairs], "response1": [a["text"] for a, _ in pairs],
        "response2": [b["text"] for _, b in pairs]})
    results, stats = gateway.run(_ranking_requests(judge, frame["instruction"], frame["response1"],
                                                   frame["response2"]))
    first, swapped = results[0::2], results[1::2]
    table = reward.ranking_table(frame, _replies(first), _replies(swapped))
    verdicts = {"first": [], "swapped": []}
    for name, res in (("first", first), ("swapped", swapped)):
        for r in res:
            verdicts[name].append(reward.parse_ranking_reply(r.text)[0] if r.ok else None)
    out = frame.assign(
        ranking_id=[stable_id("ranking", judge, a, b) for a, b in zip(frame["response_1_id"],
                                                                       frame["response_2_id"], strict=True)],
        judge_model=judge, verdict_first=verdicts["first"], verdict_swapped=verdicts["swapped"],
        ranking=table["ranking"],
        parse_status_first=[s if r.ok else "call_failed" for s, r in zip(table["parse_status_first"], first,
                                                                          strict=True)],
        parse_status_swapped=[s if r.ok else "call_failed"
                              for s, r in zip(table["parse_status_swapped"], swapped, strict=True)],
        request_key_first=[r.request_key for r in first],
        request_key_swapped=[r.request_key for r in swapped], source="judged")
    return out[columns("feedback_rankings")], stats


# -- consistency -----------------------------------------------------------------------------------------


def _texts(items: pd.DataFrame) -> tuple[dict, dict]:
    return dict(zip(items["response_id"], items["text"], strict=True)), \
        dict(zip(items["prompt_id"], items["question"], strict=True))


def consistency_table(ratings: pd.DataFrame, rankings: pd.DataFrame, items: pd.DataFrame, *,
                      repeated: str = "first"
                      ) -> tuple[pd.DataFrame, dict[str, reward.ConsistencyResult], dict[str, str]]:
    """Per judge that both rated and ranked: `reward.feedback_consistency` of its ratings vs its rankings
    (`repeated`: how a response rated twice counts, `reward.repeated_ratings`),
    as the long `feedback_consistency` table (one row per confusion cell), the results by judge, and the
    judges left out with the reason (e.g. every ranking unparsed: no pair to compare)."""
    text, question = _texts(items)
    rows, results, skipped = [], {}, {}
    ratings, rankings = imported.file_order(ratings), imported.file_order(rankings)
    for judge in sorted(set(ratings["judge_model"]) & set(rankings["judge_model"])):
        r = ratings[ratings["judge_model"] == judge]
        k = rankings[rankings["judge_model"] == judge]
        rated = pd.DataFrame({"instruction": r["prompt_id"].map(question), "input": "",
                              "response": r["response_id"].map(text), "score": r["score"]})
        ranked = pd.DataFrame({"instruction": k["prompt_id"].map(question), "input": "",
                               "response1": k["response_1_id"].map(text),
                               "response2": k["response_2_id"].map(text), "ranking": k["ranking"]})
        rated.attrs["source"] = f"feedback_ratings[{judge}]"
        ranked.attrs["source"] = f"feedback_rankings[{judge}]"
        try:
            res = reward.feedback_consistency(rated.dropna(subset=["instruction", "response"]),
                                              ranked.dropna(subset=["instruction", "response1", "response2"]),
                                              repeated=repeated)
        except reward.FeedbackError as exc:
            skipped[judge] = str(exc)
            continue
        results[judge] = res
        for implied, row in res.confusion.iterrows():
            for given, n in row.items():
                rows.append({"judge_model": judge, "implied_by_ratings": implied, "ranking_given": given,
                             "n": int(n), "rate": res.rate, "n_pairs": res.n_pairs,
                             "n_rankings": res.n_rankings,
                             "n_unmatched": res.n_unmatched, "n_unparsed_ratings": res.n_unparsed_ratings,
                             "n_unparsed_rankings": res.n_unparsed_rankings})
    return pd.DataFrame(rows, columns=columns("feedback_consistency")), results, skipped


# -- preference pairs and training data ------------------------------------------------------------------


def preference_pair_table(rankings: pd.DataFrame, judgments: pd.DataFrame, items: pd.DataFrame,
                          val_fraction: float = VAL_FRACTION, seed: int = 0
                          ) -> tuple[pd.DataFrame, reward.PreferencePairs]:
    """The `preference_pairs` table from feedback rankings and first-turn pairwise judgments of every judge.

    Ties, unparsed verdicts and identical answers are dropped (counted in the returned PreferencePairs);
    the train/validation split is `reward.preference_pairs`'s, by prompt, so one prompt's pairs never span
    both sides.
    """
    text, question = _texts(items)
    rankings = imported.file_order(rankings)
    # imported sparse-feedback rankings reach the pairs through feedback_rankings, not twice
    pw = judgments[(judgments["mode"] == "pairwise") & (judgments["turn"] == 1)
                   & (judgments["prompt_name"] != imported.SPARSE_PROMPT_NAME)]
    votes = pd.concat([
        pd.DataFrame({"source": "ranking", "judge_model": rankings["judge_model"],
                      "prompt_id": rankings["prompt_id"],
                      "model_1": rankings["model_1"], "model_2": rankings["model_2"],
                      "id_1": rankings["response_1_id"], "id_2": rankings["response_2_id"],
                      "verdict": rankings["ranking"]}),
        pd.DataFrame({"source": "pairwise", "judge_model": pw["judge_model"], "prompt_id": pw["prompt_id"],
                      "model_1": pw["model_a"], "model_2": pw["model_b"], "id_1": pw["response_a_id"],
                      "id_2": pw["response_b_id"],
                      "verdict": pw["winner"].map({"model_a": "a", "model_b": "b", "tie": "equal"})}),
    ], ignore_index=True)
    # only answers we still hold (a response rerun may have replaced some); a pair a judge ranked twice (a
    # released file may repeat one) counts once, with its first ranking
    votes = votes[votes["id_1"].isin(text) & votes["id_2"].isin(text)]
    votes = votes.drop_duplicates(["source", "judge_model", "id_1", "id_2"]).reset_index(drop=True)
    frame = pd.DataFrame({"prompt": votes["prompt_id"].map(question), "response1": votes["id_1"].map(text),
                          "response2": votes["id_2"].map(text), "ranking": votes["verdict"]})
    frame.attrs["source"] = "feedback_rankings + pairwise judgments (turn 1)"
    pairs = reward.preference_pairs(frame, val_fraction=val_fraction, seed=seed)
    val_prompts = set(pairs.val["prompt"])
    keep = votes["verdict"].isin(["a", "b"]) & (frame["response1"] != frame["response2"])
    v = votes[keep]
    first = v["verdict"] == "a"
    out = pd.DataFrame({
        "pair_id": [stable_id(*r)
                    for r in v[["source", "judge_model", "id_1", "id_2"]].itertuples(index=False)],
        "source": v["source"], "judge_model": v["judge_model"], "prompt_id": v["prompt_id"],
        "chosen_model": np.where(first, v["model_1"], v["model_2"]),
        "rejected_model": np.where(first, v["model_2"], v["model_1"]),
        "chosen_response_id": np.where(first, v["id_1"], v["id_2"]),
        "rejected_response_id": np.where(first, v["id_2"], v["id_1"]),
        "split": np.where(frame.loc[keep, "prompt"].isin(val_prompts), "val", "train")})
    return out[columns("preference_pairs")].reset_index(drop=True), pairs


@dataclass
class TrainingData:
    pairs: reward.PreferencePairs
    ratings: reward.RatingExamples
    val_ratings_frame: pd.DataFrame  # prompt, response, score of the validation prompts


def training_data(pair_table: pd.DataFrame, ratings: pd.DataFrame, items: pd.DataFrame) -> TrainingData:
    """Text frames for both trainers over ONE split: ratings of a validation prompt are validation ratings."""
    text, question = _texts(items)
    pt = pair_table[pair_table["chosen_response_id"].isin(text)
                    & pair_table["rejected_response_id"].isin(text)]

    def pair_frame(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"prompt": df["prompt_id"].map(question),
                             "chosen": df["chosen_response_id"].map(text),
                             "rejected": df["rejected_response_id"].map(text)}).reset_index(drop=True)

    train, val = pt[pt["split"] == "train"], pt[pt["split"] == "val"]
    pairs = reward.PreferencePairs(train=pair_frame(train), val=pair_frame(val), n_rows=len(pair_table),
                                   n_ties=0, n_unparsed=0, n_identical=0)
    val_ids = set(val["prompt_id"])
    r = ratings[ratings["response_id"].isin(text)]
    n_unparsed = int(r["score"].isna().sum())
    r = r.dropna(subset=["score"])
    rated = pd.DataFrame({"prompt": r["prompt_id"].map(question), "response": r["response_id"].map(text),
                          "score": r["score"].astype(float)})
    is_val = r["prompt_id"].isin(val_ids).to_numpy()
    examples = reward.RatingExamples(train=rated[~is_val].reset_index(drop=True),
                                     val=rated[is_val].reset_index(drop=True), n_rows=len(ratings),
                                     n_unparsed=n_unparsed)
    return TrainingData(pairs, examples, examples.val)


def _train_options(config: Config) -> dict:
    rc = config.reward
    # RewardConfig.learning_rate defaults to the frozen head's 1e-3; unless the user set it, let the trainer
    # pick its per-mode default (3e-5 for full fine-tuning, where 1e-3 would wreck the backbone).
    lr = rc.learning_rate if "learning_rate" in rc.model_fields_set else None
    # frozen: the encoder only embeds, so it runs in bf16 where the hardware has it, as curation's does (one
    # backbone id, one set of stored vectors); full fine-tuning keeps fp32
    precision = embed.auto_precision() if rc.mode == "frozen" else "fp32"
    return {"backbone": str(config.resolve(rc.backbone)) if rc.backbone else None, "mode": rc.mode,
            "epochs": rc.epochs, "batch_size": rc.batch_size, "learning_rate": lr,
            "max_length": rc.max_length, "seed": rc.seed, "precision": precision}


def embedding_store(wh: Warehouse) -> EmbeddingStore:
    """The warehouse's embedding store, shared with curation: a frozen reward model on curation's backbone
    (same model folder, max length and precision) reads the texts curation embedded."""
    return EmbeddingStore(wh)


def train(objective: str, config: Config, data: TrainingData, store: EmbeddingStore | None = None
          ) -> reward.TrainResult:
    """Train the ratings or the rankings reward model; both are validated on the same held-out prompts. In
    frozen mode the embeddings come from (and go to) `store`."""
    opts = _train_options(config) | {"embedding_store": store}
    eval_pairs = data.pairs.val if len(data.pairs.val) else None
    if objective == "ratings":
        return reward.train_ratings_reward_model(data.ratings, eval_pairs=eval_pairs, **opts)
    if objective == "rankings":
        eval_ratings = data.val_ratings_frame if len(data.val_ratings_frame) else None
        return reward.train_rankings_reward_model(data.pairs, eval_ratings=eval_ratings, **opts)
    raise ValueError(f"objective must be 'ratings' or 'rankings', got {objective!r}")


def save(result: reward.TrainResult, config: Config, name: str, version: str, run_id: str
         ) -> tuple[Path, pd.DataFrame]:
    """Save under `models_dir/<name>/<version>/` and return the path and its `reward_models` row."""
    path = reward.save_reward_model(result, config.resolve(config.models_dir) / name,
                                    card={"name": name, "run_id": run_id}, version=version)
    m = result.metrics()
    n_train = result.data.get("n_train_pairs_used", result.data.get("n_train_ratings_used"))
    n_val = (result.data.get("n_val_pairs") if result.objective == "rankings"
             else result.data.get("n_val_ratings"))
    row = pd.DataFrame([{
        "model_id": f"{name}/{version}", "name": name, "version": version, "path": str(path),
        "objective": result.objective, "mode": result.mode, "backbone": result.model.backbone,
        "n_train": n_train, "n_val": n_val, "n_val_pairs": result.n_val_pairs,
        "val_pairwise_accuracy": result.val_pairwise_accuracy,
        "rating_correlation": result.val_rating_correlation,
        "final_train_loss": m["final_train_loss"], "final_val_loss": m["final_val_loss"],
        "train_seconds": result.train_seconds, "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}])
    return path, row[columns("reward_models")]


def latest_models(wh: Warehouse, name: str | None = None) -> pd.DataFrame:
    """The newest `reward_models` row per name (or of one name): the versions reranking uses."""
    latest = wh.query("""
        SELECT * EXCLUDE (rn) FROM (
            SELECT *, row_number() OVER (PARTITION BY name ORDER BY created_at DESC) AS rn FROM reward_models)
        WHERE rn = 1 ORDER BY name""")
    return latest if name is None else latest[latest["name"] == name].reset_index(drop=True)


# -- best of n -------------------------------------------------------------------------------------------


def sample_candidates(gateway: Gateway, prompts: pd.DataFrame, config: Config
                      ) -> tuple[pd.DataFrame, RunStats | None]:
    """`bestofn_samples`: every responder's `reward.n` answers to every first turn at
    `reward.sample_temperature`. The sample index is part of the request key, so each sample is its own
    call (and a rerun pays for none)."""
    if config.reward.n < 1:
        raise ConfigError(f"reward.n must be >= 1, got {config.reward.n} in {config.source}")
    temperature = config.reward.sample_temperature
    return generate_responses(gateway, turn1_prompts(prompts), config.responders,
                              samples=config.reward.n, temperature_for=lambda _category: temperature,
                              id_salt=("bestofn", f"temperature={temperature:g}"))


def identical_sample_groups(samples: pd.DataFrame) -> int:
    """(prompt, responder) groups of several successful samples that are all the same text: best-of-n has
    nothing to choose there (a greedy model, or a temperature of 0)."""
    ok = samples[samples["status"] == "ok"]
    if ok.empty:
        return 0
    g = ok.groupby(["prompt_id", "responder_model"])["text"].agg(["size", "nunique"])
    return int(((g["size"] > 1) & (g["nunique"] == 1)).sum())


def candidates(samples: pd.DataFrame, prompts: pd.DataFrame) -> pd.DataFrame:
    """Successful samples with their question as `prompt` and text as `response` (what reward models read)."""
    questions = dict(zip(prompts["prompt_id"], [str(list(t)[0]) for t in prompts["turns"]], strict=True))
    ok = samples[samples["status"] == "ok"]
    return pd.DataFrame({"prompt_id": ok["prompt_id"], "responder_model": ok["responder_model"],
                         "response_id": ok["response_id"], "sample": ok["sample"],
                         "prompt": ok["prompt_id"].map(questions),
                         "response": ok["text"]}).reset_index(drop=True)


def rerank(cands: pd.DataFrame, models: dict[str, reward.RewardModel], versions: dict[str, str],
           store: EmbeddingStore | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """`reranked_responses`: each reward model's best candidate per (prompt, responder), and per model how
    many candidates were longer than its max length (truncated when scored). Frozen models score from the
    embeddings in `store`: candidates embedded before (an earlier run's) are read, the rest
    embedded once for all models on one backbone."""
    if cands.empty or not models:
        return _empty("reranked_responses"), {}
    picks = reward.rerank_best_of_n(cands, models, by=["prompt_id", "responder_model"], store=store)
    out = picks.rename(columns={"reward": "score"}).assign(model_version=picks["reward_model"].map(versions))
    return out[columns("reranked_responses")].reset_index(drop=True), dict(picks.attrs.get("n_overlong", {}))


def reference_model(config: Config) -> str:
    """The model best-of-n picks are compared with; judging.baseline_model only when it is a configured model
    (an imported answer's model cannot answer new prompts)."""
    baseline = config.judging.baseline_model
    configured = baseline if baseline in {m.name for m in config.models} else None
    if config.reward.reference_model or configured:
        return config.reward.reference_model or configured
    if not config.responders:
        raise ConfigError("the reward loop needs a configured responder or reward.reference_model")
    return config.responders[-1]


def reference_outputs(config: Config, prompts: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(prompt_id, response, prompt) of the prompts that `reference_outputs` answers (first turn, first
    choice), and the name of the model that wrote them. Prompts without one are left out of the win rates."""
    src = config.reference_outputs
    answers = read_answers(config.resolve(src.path), src.format, model=src.model)
    names = sorted(set(answers["model"].dropna()))
    answers = answers[(answers["turn"] == 1) & (answers["choice"] == 0)].drop_duplicates("prompt_id")
    if src.model is None and len(names) != 1:
        raise ConfigError(f"reference_outputs {src.path}: answers of {len(names)} models ({names[:5]}); set "
                          f"reference_outputs.model in {config.source}")
    ref = answers[["prompt_id", "text"]].rename(columns={"text": "response"}).merge(prompts, on="prompt_id")
    return ref.reset_index(drop=True), src.model or names[0]


def win_rate_judge(config: Config, reference: str) -> str:
    if not config.judges:
        raise ConfigError(f"rm_win_rate needs a judge: `judges` is empty in {config.source}")
    return next((j for j in config.judges if j != reference), config.judges[0])


def _rate(wr: reward.WinRate | None, n_invalid: int) -> dict:
    if wr is None:  # every comparison failed to parse: a row that says so, not a crash or a silent gap
        return {"rate": np.nan, "low": np.nan, "high": np.nan, "sem_low": np.nan, "sem_high": np.nan, "n": 0,
                "wins": 0, "ties": 0, "losses": 0, "n_invalid": n_invalid}
    return {"rate": wr.rate, "low": wr.low, "high": wr.high, "sem_low": wr.sem_low, "sem_high": wr.sem_high,
            "n": wr.n, "wins": wr.wins, "ties": wr.ties, "losses": wr.losses, "n_invalid": n_invalid}


def win_rates(gateway: Gateway, config: Config, picks: pd.DataFrame, cands: pd.DataFrame
              ) -> tuple[pd.DataFrame, RunStats | None]:
    """`rm_win_rate`: a judge compares every pick with the reference model's first-turn answer, by rating
    both (1–7, higher wins) and by ranking the two in both orders; ties count half; Wilson 95% intervals.
    Besides each reward model, `__sample_0__` (the responder's first sample, no reranking) is the baseline,
    and `__all__` pools the responders of one reward model."""
    prompts = cands.drop_duplicates("prompt_id")[["prompt_id", "prompt"]]
    if config.reference_outputs is not None:  # recorded reference answers: nothing to generate
        ref, ref_name = reference_outputs(config, prompts)
        judge, ref_stats = win_rate_judge(config, ref_name), None
        gateway.check([judge])
    else:
        ref_name = reference_model(config)
        judge = win_rate_judge(config, ref_name)
        gateway.check([judge, ref_name])  # both keys before the answers are paid for
        ref_prompts = pd.DataFrame({"prompt_id": prompts["prompt_id"], "reference": None, "n_turns": 1,
                                    "turns": [[p] for p in prompts["prompt"]]})
        ref_responses, ref_stats = generate_responses(gateway, ref_prompts, [ref_name])
        ref = ref_responses[ref_responses["status"] == "ok"][["prompt_id", "text"]].rename(
            columns={"text": "response"})
        ref = ref.merge(prompts, on="prompt_id")
    base = cands[cands["sample"] == 0].assign(reward_model=BASELINE_PICK)
    chosen = picks.merge(cands, on=["prompt_id", "responder_model", "response_id", "sample"])
    allp = pd.concat([chosen[base.columns], base], ignore_index=True)
    allp = allp[allp["prompt_id"].isin(ref["prompt_id"])].reset_index(drop=True)
    if allp.empty:
        return _empty("rm_win_rate"), merge_stats(ref_stats)
    # ratings of every pick and of the reference answers, then rankings (reference, pick) both orders
    rate_req = _rating_requests(judge, allp["prompt"], allp["response"]) + \
        _rating_requests(judge, ref["prompt"], ref["response"])
    pairs = allp.merge(ref.rename(columns={"response": "ref_response"})[["prompt_id", "ref_response"]],
                       on="prompt_id")
    rank_req = _ranking_requests(judge, pairs["prompt"], pairs["ref_response"], pairs["response"])
    results, stats = gateway.run(rate_req + rank_req)
    scores = [reward.parse_rating_reply(r.text)[0] if r.ok else None for r in results[:len(rate_req)]]
    allp["score"] = pd.array(scores[:len(allp)], dtype="Int64")
    ref_scored = ref.assign(score=pd.array(scores[len(allp):], dtype="Int64"))
    rank_res = results[len(rate_req):]
    ranked = reward.ranking_table(pairs.assign(instruction=pairs["prompt"], input="",
                                               response1=pairs["ref_response"], response2=pairs["response"]),
                                  _replies(rank_res[0::2]), _replies(rank_res[1::2]))
    rows = []
    for (rm, responder), g in allp.groupby(["reward_model", "responder_model"], sort=True):
        by_rating = reward.outcomes_from_ratings(g, ref_scored, on=["prompt_id"])
        by_ranking = reward.outcomes_from_rankings(
            ranked[(ranked["reward_model"] == rm) & (ranked["responder_model"] == responder)], pick_slot="b")
        rows += [{"reward_model": rm, "responder_model": responder, "method": m, "outcomes": o,
                  "n_invalid": n} for m, (o, n) in (("ratings", by_rating), ("rankings", by_ranking))]
    pooled = {}
    for r in rows:
        acc = pooled.setdefault((r["reward_model"], r["method"]), {"outcomes": [], "n_invalid": 0})
        acc["outcomes"] += list(r["outcomes"])
        acc["n_invalid"] += r["n_invalid"]
    rows += [{"reward_model": rm, "responder_model": ALL_RESPONDERS, "method": m, **acc}
             for (rm, m), acc in pooled.items()]
    out = pd.DataFrame([{
        "reward_model": r["reward_model"], "responder_model": r["responder_model"], "method": r["method"],
        "judge_model": judge, "reference_model": ref_name,
        **_rate(reward.win_rate(r["outcomes"]) if len(r["outcomes"]) else None, r["n_invalid"])}
        for r in rows])
    return out[columns("rm_win_rate")], merge_stats(ref_stats, stats)
