"""Tables of the analysis area: leaderboards, judge agreement, position consistency, external votes."""

from __future__ import annotations

from ..table import declare

LEADERBOARD = declare("leaderboard", "Per judge and pooled (judge_model='__pooled__'): strengths with 95% "
                                     "intervals.", [
    ("judge_model", "VARCHAR", "the judge, '__pooled__' for all judges, or an external source"),
    ("model", "VARCHAR", "the responder ranked"),
    ("rank", "INTEGER", "rank by overlapping intervals (ties share a rank)"),
    ("bt_score", "DOUBLE", "Bradley-Terry strength (sums to 1 over the board)"),
    ("bt_low", "DOUBLE", "bootstrap 2.5% quantile of bt_score"),
    ("bt_high", "DOUBLE", "bootstrap 97.5% quantile of bt_score"),
    ("elo", "DOUBLE", "Bradley-Terry on the Elo scale (400 log10, anchored at 1000)"),
    ("elo_low", "DOUBLE", "bootstrap 2.5% quantile of elo"),
    ("elo_high", "DOUBLE", "bootstrap 97.5% quantile of elo"),
    ("win_rate", "DOUBLE", "share of comparisons won, ties as half"),
    ("win_rate_adjusted", "DOUBLE", "mean predicted win rate against every other model"),
    ("mean_score_turn1", "DOUBLE", "mean single-answer grade on turn 1"),
    ("mean_score_turn2", "DOUBLE", "mean single-answer grade on turn 2"),
    ("n_comparisons", "BIGINT", "pairwise comparisons the model took part in"),
    ("true_quality", "DOUBLE", "the simulator's latent quality (NULL for real models)"),
    ("simulated", "BOOLEAN", "the model is simulated"),
])

EXTERNAL_COMPARISONS = declare("external_comparisons", "Pairwise votes read from external sources.", [
    ("source", "VARCHAR", "configured name of the source"),
    ("human", "BOOLEAN", "the votes are human (crowd, experts)"),
    ("prompt_id", "VARCHAR", "the prompt, as the source names it"),
    ("turn", "INTEGER", "the turn voted on"),
    ("model_a", "VARCHAR", "first model"),
    ("model_b", "VARCHAR", "second model"),
    ("winner", "VARCHAR", "model_a, model_b or tie"),
    ("worker", "VARCHAR", "voter or judge id from the source"),
])

JUDGE_AGREEMENT = declare("judge_agreement", "Agreement between every two judges (and humans), MT-bench "
                                             "style.", [
    ("judge_1", "VARCHAR", "first judge (or 'human')"),
    ("judge_2", "VARCHAR", "second judge"),
    ("kind", "VARCHAR", "judge-judge, judge-human or human-human"),
    ("n_keys", "BIGINT", "question-turn-pair keys both rated"),
    ("n_with_ties", "BIGINT", "matched vote pairs, ties included"),
    ("agreement_with_ties", "DOUBLE", "share of matched votes that agree, ties included"),
    ("n_without_ties", "BIGINT", "matched vote pairs where neither said tie"),
    ("agreement_without_ties", "DOUBLE", "share that agree among votes without ties"),
    ("cohen_kappa", "DOUBLE", "Cohen's kappa over the three labels"),
    ("n_models", "BIGINT", "models on both leaderboards"),
    ("spearman", "DOUBLE", "Spearman correlation of the two Bradley-Terry leaderboards"),
    ("kendall_tau", "DOUBLE", "Kendall's tau of the two Bradley-Terry leaderboards"),
])

POSITION_CONSISTENCY = declare("position_consistency", "How often a judge gives the same verdict in both "
                                                       "orders.", [
    ("judge", "VARCHAR", "the judge"),
    ("n_pairs", "BIGINT", "pairs judged in both orders with both verdicts parsed"),
    ("n_consistent", "BIGINT", "pairs with the same verdict in both orders"),
    ("consistency", "DOUBLE", "n_consistent / n_pairs"),
    ("prefers_first", "DOUBLE", "share of pairs where the answer shown first won in both orders"),
    ("prefers_second", "DOUBLE", "share of pairs where the answer shown second won in both orders"),
])

MT_BENCH_SCORES = declare("mt_bench_scores", "MT-bench scores per judge (FastChat show_result: unparsed "
                                             "grades dropped, overall = mean over all turns) with question-"
                                             "bootstrap 95% intervals.", [
    ("judge_model", "VARCHAR", "the judge"),
    ("model", "VARCHAR", "the responder scored"),
    ("scope", "VARCHAR", "turn1, turn2, overall, or category:<name> (mean over both turns)"),
    ("score", "DOUBLE", "mean single-answer grade in that scope"),
    ("low", "DOUBLE", "bootstrap 2.5% quantile (questions resampled, both turns together)"),
    ("high", "DOUBLE", "bootstrap 97.5% quantile"),
    ("n", "BIGINT", "grades in that scope"),
])

PAIRWISE_WIN_RATES = declare("pairwise_win_rates", "FastChat show_result pairwise win rates per judge: "
                                                   "against every model, or against the baseline model.", [
    ("judge_model", "VARCHAR", "the judge"),
    ("baseline", "VARCHAR", "the baseline model the rates are against; NULL: against all models"),
    ("model", "VARCHAR", "the responder"),
    ("win", "BIGINT", "comparisons won"),
    ("loss", "BIGINT", "comparisons lost"),
    ("tie", "BIGINT", "ties (including verdicts that flip with the order)"),
    ("win_rate", "DOUBLE", "win / (win + loss + tie)"),
    ("loss_rate", "DOUBLE", "loss / (win + loss + tie)"),
    ("win_rate_adjusted", "DOUBLE", "(win + tie / 2) / (win + loss + tie)"),
])

TABLES = [LEADERBOARD, EXTERNAL_COMPARISONS, JUDGE_AGREEMENT, POSITION_CONSISTENCY, MT_BENCH_SCORES,
          PAIRWISE_WIN_RATES]
