"""Tables of the analysis area: leaderboards, judge agreement, position consistency, external votes."""

from __future__ import annotations

from ..table import declare

LEADERBOARD = declare("leaderboard", "Per judge and pooled (judge_model='__pooled__'): strengths with 95% "
                                     "intervals.", [
    ("judge_model", "VARCHAR", "the judge, `__pooled__` for all judges, or an external source"),
    ("model", "VARCHAR", "the responder ranked"),
    ("rank", "INTEGER", "rank by overlapping intervals (ties share a rank)"),
    ("bt_score", "DOUBLE", "Bradley-Terry strength (sums to 1 over the board)"),
    ("bt_low", "DOUBLE", "bootstrap 2.5% quantile of bt_score"),
    ("bt_high", "DOUBLE", "bootstrap 97.5% quantile of bt_score"),
    ("elo", "DOUBLE", "Bradley-Terry on the Elo scale (400 log10, anchored at 1000)"),
    ("elo_low", "DOUBLE", "bootstrap 2.5% quantile of elo"),
    ("elo_high", "DOUBLE", "bootstrap 97.5% quantile of elo"),
    ("win_rate", "DOUBLE", "wins / comparisons (a tie counts as no win)"),
    ("win_rate_adjusted", "DOUBLE", "(wins + ties / 2) / comparisons: a tie counts as half a win"),
    ("mean_score_turn1", "DOUBLE", "mean single-answer grade on turn 1"),
    ("mean_score_turn2", "DOUBLE", "mean single-answer grade on turn 2"),
    ("n_comparisons", "BIGINT", "pairwise comparisons the model took part in"),
    ("style_elo", "DOUBLE", "Elo with style held fixed (Arena's style control: length and markdown "
                            "differences fitted jointly); NULL on external boards, which carry no answers"),
    ("style_elo_low", "DOUBLE", "bootstrap 2.5% quantile of style_elo"),
    ("style_elo_high", "DOUBLE", "bootstrap 97.5% quantile of style_elo"),
    ("lc_win_rate", "DOUBLE", "AlpacaEval 2.0's length-controlled win rate against the baseline (a fraction; "
                              "NULL for the baseline itself and on external boards)"),
    ("lc_win_rate_se", "DOUBLE", "standard error of lc_win_rate"),
    ("true_quality", "DOUBLE", "the simulator's latent quality (NULL for real models)"),
    ("simulated", "BOOLEAN", "the model is simulated"),
])

STYLE_COEFFICIENTS = declare("style_coefficients", "Per board: what one standardised unit of each style "
                                                   "difference is worth to the judge, in log-odds.", [
    ("judge_model", "VARCHAR", "the board: a judge or `__pooled__`"),
    ("feature", "VARCHAR", "length (words), headers, lists or bold (markdown counts)"),
    ("coefficient", "DOUBLE", "log-odds per standardised unit of the answers' normalised difference (NULL: "
                              "the feature never varied)"),
    ("low", "DOUBLE", "bootstrap 2.5% quantile"),
    ("high", "DOUBLE", "bootstrap 97.5% quantile"),
    ("feature_std", "DOUBLE", "that unit, in the normalised difference's own units"),
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

EVALUATOR_LEADERBOARD = declare("evaluator_leaderboard", (
    "Judges judged: per judge, agreement with humans and the other judges, noise, position and length bias, "
    "self-preference, parse failures, cost and latency; on the simulator, the configured noise and biases."),
    [
    ("judge", "VARCHAR", "the judge: one of ours (a judge_model partition) or an external machine source"),
    ("source", "VARCHAR", "judged (our judgments table) or external (comparison_sources, human: false)"),
    ("simulated", "BOOLEAN", "a simulated judge: its dollars are simulated and configured_* are known"),
    ("n_judgments", "BIGINT", "judgment rows (single and pairwise, parsed or not; external: votes)"),
    ("n_pairwise", "BIGINT", "pairwise judgments (external: votes)"),
    ("n_single", "BIGINT", "single-answer grades"),
    ("parse_failure_rate", "DOUBLE", "share of judgment rows whose verdict could not be read"),
    ("human_n", "BIGINT", "matched (judge vote, human vote) pairs on the same question, turn and pair"),
    ("human_agreement", "DOUBLE", "MT-bench agreement with the human votes, ties included"),
    ("human_agreement_no_ties", "DOUBLE", "the same over matched pairs where neither voted tie"),
    ("human_kappa", "DOUBLE", "Cohen's kappa with the human votes (3 labels, the matched pairs)"),
    ("human_spearman", "DOUBLE", "Spearman of the judge's and the humans' Bradley-Terry boards"),
    ("judges_n", "BIGINT", "matched vote pairs with every other judge, pooled"),
    ("judges_agreement", "DOUBLE", "MT-bench agreement with the other judges, ties included"),
    ("judges_agreement_no_ties", "DOUBLE", "the same without the pairs in which either voted tie"),
    ("judges_kappa", "DOUBLE", "Cohen's kappa with the other judges on the pooled matched pairs"),
    ("alpha_all", "DOUBLE", "Krippendorff's alpha (nominal) of all judges' verdicts (same on every row)"),
    ("alpha_without", "DOUBLE", "the panel's alpha without this judge: above alpha_all, the judge lowers it"),
    ("position_consistency", "DOUBLE", "share of pairs with the same verdict in both orders"),
    ("prefers_first", "DOUBLE", "share of pairs where the answer shown first won in both orders"),
    ("position_bias", "DOUBLE", "P(shown first wins) - P(shown second wins), one order at a time; 0: fair"),
    ("length_coef", "DOUBLE", "style-control length coefficient: log-odds per std of length difference"),
    ("length_coef_low", "DOUBLE", "bootstrap 2.5% quantile of length_coef"),
    ("length_coef_high", "DOUBLE", "bootstrap 97.5% quantile of length_coef"),
    ("noise", "DOUBLE", "Grubbs error variance of the judge's grades (grade points^2, length regressed out)"),
    ("noise_pairwise", "DOUBLE", "the same estimate on single-order verdicts coded +1/0/-1"),
    ("self_preference", "DOUBLE", "extra grade points for its own answers over what other judges give them"),
    ("self_win_rate_gain", "DOUBLE", "its own model's adjusted win rate by this judge minus by the others"),
    ("n_calls", "BIGINT", "journaled model calls behind the judgments"),
    ("usd_per_1k", "DOUBLE", "dollars per 1,000 judgments from the journal (simulated $ when simulated)"),
    ("latency_p50_s", "DOUBLE", "median seconds per successful call"),
    ("latency_p90_s", "DOUBLE", "90th percentile seconds per successful call"),
    ("configured_noise", "DOUBLE", "simulator: configured chance a grade moves by one"),
    ("configured_position_bias", "DOUBLE", "simulator: configured preference for the answer shown first"),
    ("configured_verbosity_bias", "DOUBLE", "simulator: configured preference for longer answers"),
    ("configured_self_preference", "DOUBLE", "simulator: configured extra credit to its own answers"),
], key="judge")

TABLES = [LEADERBOARD, STYLE_COEFFICIENTS, EXTERNAL_COMPARISONS, JUDGE_AGREEMENT, POSITION_CONSISTENCY,
          MT_BENCH_SCORES, PAIRWISE_WIN_RATES, EVALUATOR_LEADERBOARD]
