"""Export: the SQL backfill of synthetic users and conversations."""

import dagster as dg

from .assets import export_assets

defs = dg.Definitions(assets=export_assets)
