"""The one resource every asset uses: config, warehouse and gateway, built from the YAML config.

It holds only a path to the config (no secrets): API keys stay in environment variables and reach the
providers at call time, never run config, logs or metadata.
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from ..config import Config, load_config
from ..llm import Gateway, RunStats
from ..warehouse import Warehouse


class LLMFeedbackResource(dg.ConfigurableResource):
    """Config path (default: $LLMFEEDBACK_CONFIG or data/config/llmfeedback.yaml) and an optional DuckDB path.

    The config is read once per step (or sensor tick) when Dagster sets the resource up, so every asset,
    check and sensor of that step sees the same config."""

    config_path: str | None = None
    database: str | None = None
    _config: Config | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._config = load_config(self.config_path)

    def load(self) -> Config:
        return self._config if self._config is not None else load_config(self.config_path)

    def warehouse(self, config: Config | None = None) -> Warehouse:
        config = config or self.load()
        return Warehouse(self.database or config.database_path)

    def gateway(self, context: dg.AssetExecutionContext, config: Config, warehouse: Warehouse) -> Gateway:
        def report(stats: RunStats) -> None:
            context.log.info("model calls: " + stats.line())

        return Gateway(config, warehouse, progress=report, progress_every_s=15.0)
