"""Ranking library: Bradley–Terry and friends on pairwise comparisons, bootstrap intervals, judge agreement.

Pure Python (numpy, pandas, scipy); no Dagster import. Comparisons are aggregated once into a table of unique
(model pair, outcome) counts (`aggregate`), and every fit reads that table.
"""

from .agreement import (
    AGREEMENT_COLUMNS,
    POSITION_COLUMNS,
    agreement,
    canonical_votes,
    cohen_kappa,
    judge_agreement_table,
    majority_vote,
    position_consistency,
)
from .bootstrap import BootstrapResult, bootstrap_bradley_terry
from .bt import (
    ELO_ANCHOR,
    bradley_terry,
    elo_ratings,
    elo_scale,
    fit_bradley_terry,
    fit_newman,
    newman,
)
from .correlation import kendall_tau, spearman
from .eigen import eigen_ratings, fit_eigen_ratings, fit_pagerank, pagerank
from .errors import DisconnectedComparisonsError, NoFiniteScoresError, RankingError, RankingWarning
from .krippendorff import krippendorff_alpha, krippendorff_alpha_long
from .lc_winrate import (
    LC_COLUMNS,
    instruction_difficulty_from,
    length_controlled_win_rate,
    length_controlled_win_rates,
)
from .leaderboard import (
    LEADERBOARD_COLUMNS,
    leaderboard_markdown,
    leaderboard_plot_png,
    leaderboard_table,
    rank_by_intervals,
)
from .mtbench import (
    MT_BENCH_BOOTSTRAP_COLUMNS,
    MT_BENCH_PAIRWISE_COLUMNS,
    MT_BENCH_SCORE_COLUMNS,
    mt_bench_bootstrap,
    mt_bench_radar_png,
    mt_bench_scores,
    pairwise_win_rates,
)
from .online_elo import online_elo
from .pairs import PairTable, aggregate, aggregate_frame
from .sources import SourceFormatError, read_llmfao_comparisons, read_mtbench_judgments
from .style import STYLE_FEATURES, StyleControlResult, markdown_counts, style_control, style_counts
from .winrate import average_win_rate, fit_average_win_rate, win_rates

__all__ = [
    "AGREEMENT_COLUMNS",
    "POSITION_COLUMNS",
    "SourceFormatError",
    "agreement",
    "canonical_votes",
    "cohen_kappa",
    "judge_agreement_table",
    "majority_vote",
    "position_consistency",
    "read_llmfao_comparisons",
    "read_mtbench_judgments",
    "ELO_ANCHOR",
    "LEADERBOARD_COLUMNS",
    "BootstrapResult",
    "DisconnectedComparisonsError",
    "NoFiniteScoresError",
    "PairTable",
    "RankingError",
    "RankingWarning",
    "aggregate",
    "aggregate_frame",
    "average_win_rate",
    "bootstrap_bradley_terry",
    "bradley_terry",
    "elo_ratings",
    "elo_scale",
    "fit_average_win_rate",
    "fit_bradley_terry",
    "fit_newman",
    "kendall_tau",
    "krippendorff_alpha",
    "krippendorff_alpha_long",
    "leaderboard_markdown",
    "LC_COLUMNS",
    "instruction_difficulty_from",
    "length_controlled_win_rate",
    "length_controlled_win_rates",
    "leaderboard_plot_png",
    "leaderboard_table",
    "MT_BENCH_BOOTSTRAP_COLUMNS",
    "MT_BENCH_PAIRWISE_COLUMNS",
    "MT_BENCH_SCORE_COLUMNS",
    "mt_bench_bootstrap",
    "mt_bench_radar_png",
    "mt_bench_scores",
    "pairwise_win_rates",
    "newman",
    "online_elo",
    "rank_by_intervals",
    "spearman",
    "eigen_ratings",
    "fit_eigen_ratings",
    "fit_pagerank",
    "pagerank",
    "STYLE_FEATURES",
    "StyleControlResult",
    "markdown_counts",
    "style_control",
    "style_counts",
    "win_rates",
]
