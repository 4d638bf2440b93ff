"""Tables of the reward area: rating and ranking feedback, preference pairs, reward models, best-of-n."""

from __future__ import annotations

from ..table import declare
from .spine import _RESPONSE_COLUMNS

FEEDBACK_RATINGS = declare("feedback_ratings", "One judge's 1-7 ratings of single answers (sparse "
                                               "feedback).", [
    ("rating_id", "VARCHAR", "content hash of judge and response"),
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("prompt_id", "VARCHAR", "the prompt"),
    ("responder_model", "VARCHAR", "the model rated"),
    ("response_id", "VARCHAR", "the answer rated"),
    ("score", "INTEGER", "the 1-7 rating; NULL when the reply did not parse"),
    ("parse_status", "VARCHAR", "ok, or why no rating was read"),
    ("request_key", "VARCHAR", "gateway request key of the judge call"),
    ("source", "VARCHAR", "'judged' (asked through the gateway) or the imported file:line it was read from"),
], key="rating_id", partition="judge_model")

FEEDBACK_RANKINGS = declare("feedback_rankings", "One judge's pairwise rankings, asked in both orders.", [
    ("ranking_id", "VARCHAR", "content hash of judge and the two responses"),
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("prompt_id", "VARCHAR", "the prompt"),
    ("model_1", "VARCHAR", "model of response 1"),
    ("model_2", "VARCHAR", "model of response 2"),
    ("response_1_id", "VARCHAR", "response shown as (a) in the first order"),
    ("response_2_id", "VARCHAR", "response shown as (b) in the first order"),
    ("verdict_first", "VARCHAR", "a, b or equal with response 1 first"),
    ("verdict_swapped", "VARCHAR", "a, b or equal with response 2 first, in response 1/2 terms"),
    ("ranking", "VARCHAR", "combined ranking: a, b, or equal when the orders disagree"),
    ("parse_status_first", "VARCHAR", "ok, or why the first reply did not parse"),
    ("parse_status_swapped", "VARCHAR", "ok, or why the swapped reply did not parse"),
    ("request_key_first", "VARCHAR", "gateway request key of the first-order call"),
    ("request_key_swapped", "VARCHAR", "gateway request key of the swapped-order call"),
    ("source", "VARCHAR", "'judged' (asked through the gateway) or the imported file:line it was read from"),
], key="ranking_id", partition="judge_model")

FEEDBACK_CONSISTENCY = declare("feedback_consistency", "How often ratings and rankings of one judge agree.", [
    ("judge_model", "VARCHAR", "the judge"),
    ("implied_by_ratings", "VARCHAR", "the preference the two ratings imply: a, b or equal"),
    ("ranking_given", "VARCHAR", "the preference the ranking gave: a, b or equal"),
    ("n", "BIGINT", "pairs in this cell of the confusion table"),
    ("rate", "DOUBLE", "share of matched pairs where ratings and ranking agree (same on every row)"),
    ("n_pairs", "BIGINT", "pairs with both a parsed ranking and two parsed ratings"),
    ("n_rankings", "BIGINT", "rankings read"),
    ("n_unmatched", "BIGINT", "rankings without both ratings"),
    ("n_unparsed_ratings", "BIGINT", "ratings that did not parse"),
    ("n_unparsed_rankings", "BIGINT", "rankings that did not parse"),
])

PREFERENCE_PAIRS = declare("preference_pairs", "Chosen/rejected answer pairs for reward-model training.", [
    ("pair_id", "VARCHAR", "content hash of source, judge and the two responses"),
    ("source", "VARCHAR", "ratings, ranking or pairwise: the feedback the pair came from"),
    ("judge_model", "VARCHAR", "the judge whose feedback it is"),
    ("prompt_id", "VARCHAR", "the prompt"),
    ("chosen_model", "VARCHAR", "model of the preferred answer"),
    ("rejected_model", "VARCHAR", "model of the other answer"),
    ("chosen_response_id", "VARCHAR", "the preferred answer"),
    ("rejected_response_id", "VARCHAR", "the other answer"),
    ("split", "VARCHAR", "train or val, grouped by prompt"),
], key="pair_id")

REWARD_MODELS = declare("reward_models", "Every reward model trained, versioned, with its validation "
                                         "figures.", [
    ("model_id", "VARCHAR", "name and version"),
    ("name", "VARCHAR", "ratings_reward_model or rankings_reward_model"),
    ("version", "VARCHAR", "version (content hash of data and options)"),
    ("path", "VARCHAR", "folder of the safetensors weights and model card"),
    ("objective", "VARCHAR", "regression on ratings or Bradley-Terry on pairs"),
    ("mode", "VARCHAR", "frozen (head only) or finetune"),
    ("backbone", "VARCHAR", "encoder the model starts from"),
    ("n_train", "BIGINT", "training examples"),
    ("n_val", "BIGINT", "validation examples"),
    ("n_val_pairs", "BIGINT", "validation preference pairs"),
    ("val_pairwise_accuracy", "DOUBLE", "share of validation pairs ordered correctly"),
    ("rating_correlation", "DOUBLE", "Pearson correlation with validation ratings (ratings model)"),
    ("final_train_loss", "DOUBLE", "training loss of the last epoch"),
    ("final_val_loss", "DOUBLE", "validation loss of the last epoch"),
    ("train_seconds", "DOUBLE", "wall seconds of training"),
    ("run_id", "VARCHAR", "the Dagster run that trained it"),
    ("created_at", "TIMESTAMP", "when it was saved (UTC)"),
], key="model_id")

BESTOFN_SAMPLES = declare("bestofn_samples", "n sampled answers per prompt and responder for reranking.",
                          _RESPONSE_COLUMNS, key="response_id")

RERANKED_RESPONSES = declare("reranked_responses", "The answer each reward model picks from the best-of-n "
                                                   "samples.", [
    ("reward_model", "VARCHAR", "the reward model that ranked the samples"),
    ("model_version", "VARCHAR", "its version"),
    ("prompt_id", "VARCHAR", "the prompt"),
    ("responder_model", "VARCHAR", "the responder sampled"),
    ("response_id", "VARCHAR", "the picked sample"),
    ("sample", "INTEGER", "index of the picked sample"),
    ("score", "DOUBLE", "the reward model's score of the pick"),
    ("n_candidates", "INTEGER", "samples it chose among"),
])

RM_WIN_RATE = declare("rm_win_rate", "Win rate of reranked picks against the reference model, with Wilson "
                                     "95% intervals.", [
    ("reward_model", "VARCHAR", "reward model, or __sample_0__ for the un-reranked baseline"),
    ("responder_model", "VARCHAR", "responder, or __all__ pooled"),
    ("method", "VARCHAR", "how ties count"),
    ("judge_model", "VARCHAR", "the judge that compared pick and reference"),
    ("reference_model", "VARCHAR", "the model compared against"),
    ("rate", "DOUBLE", "win rate"),
    ("low", "DOUBLE", "Wilson 95% lower bound"),
    ("high", "DOUBLE", "Wilson 95% upper bound"),
    ("sem_low", "DOUBLE", "the sparse-feedback paper's interval: rate - 1.96 SEM"),
    ("sem_high", "DOUBLE", "the sparse-feedback paper's interval: rate + 1.96 SEM"),
    ("n", "BIGINT", "valid comparisons"),
    ("wins", "BIGINT", "wins"),
    ("ties", "BIGINT", "ties"),
    ("losses", "BIGINT", "losses"),
    ("n_invalid", "BIGINT", "comparisons without a parsed verdict"),
])

TABLES = [FEEDBACK_RATINGS, FEEDBACK_RANKINGS, FEEDBACK_CONSISTENCY, PREFERENCE_PAIRS, REWARD_MODELS,
          BESTOFN_SAMPLES, RERANKED_RESPONSES, RM_WIN_RATE]
