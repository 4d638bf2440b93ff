"""Score curation and data selection (DS2): the domain layer behind the curation assets.

    result = curate(embeddings, scores, num_classes=6)        # T, clean prior, curated scores, rareness
    picked = result.select(10_000)                            # or select(...) on stored columns

No Dagster import here: the assets in defs/ load inputs, call these functions and write the outputs.
"""

from . import sim_handlers
from .core import CurationInputError, CurationResult, curate, options_from_config
from .select import (
    apply_curation,
    select,
    select_diversity,
    select_longest,
    select_random,
    select_raw_score,
)

sim_handlers.register()

__all__ = [
    "CurationInputError",
    "CurationResult",
    "apply_curation",
    "curate",
    "options_from_config",
    "select",
    "select_diversity",
    "select_longest",
    "select_random",
    "select_raw_score",
]
