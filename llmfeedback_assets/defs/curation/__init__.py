"""Curation: quality scores per judge, embeddings, DS2-curated scores and selected training subsets."""

import dagster as dg

from .assets import curation_assets
from .checks import curation_checks
from .jobs import curation_jobs

defs = dg.Definitions(assets=curation_assets, asset_checks=curation_checks, jobs=curation_jobs)
