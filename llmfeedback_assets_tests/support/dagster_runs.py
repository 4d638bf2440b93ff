"""Running assets against a test's instance and config, and reading back what the runs recorded."""

from __future__ import annotations

import dagster as dg


def latest_metadata(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> dict:
    """The metadata values of the asset's (partition's) latest materialization."""
    wanted = dg.AssetRecordsFilter(asset_key=dg.AssetKey(key),
                                   asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(wanted, limit=1).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def materialize_with_config(assets, instance: dg.DagsterInstance, config_path, selection, partition=None,
                            raise_on_error: bool = True):
    """`dg.materialize` of `selection` (one partition, or none) with the project resource on `config_path`."""
    from llmfeedback_assets.defs.resources import LLMFeedbackResource

    return dg.materialize(assets, selection=selection, partition_key=partition, instance=instance,
                          resources={"llmfeedback": LLMFeedbackResource(config_path=str(config_path))},
                          raise_on_error=raise_on_error)
