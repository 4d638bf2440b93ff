"""Reading back what a test's Dagster runs recorded."""

from __future__ import annotations

import dagster as dg


def latest_metadata(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> dict:
    """The metadata values of the asset's (partition's) latest materialization."""
    wanted = dg.AssetRecordsFilter(asset_key=dg.AssetKey(key),
                                   asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(wanted, limit=1).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}
