"""Checks shared by every area."""

import dagster as dg

from ..config import Config
from ..warehouse import table
from .errors import one_line_failure
from .resources import LLMFeedbackResource


def parse_failure_result(config: Config, judge: str, rows: int, unparsed: int) -> dg.AssetCheckResult:
    """Pass while the share of one judge's replies that gave no usable verdict stays under
    judging.max_parse_failure_rate: a judge that stops following the format is caught."""
    rate = unparsed / rows if rows else 0.0
    limit = config.judging.max_parse_failure_rate
    return dg.AssetCheckResult(passed=rate <= limit, metadata={
        "judge": judge, "rows": rows, "unparsed": unparsed, "failure_rate": round(rate, 4), "limit": limit})


def schema_check(name: str) -> dg.AssetChecksDefinition:
    """The DuckDB table has exactly the declared columns and types, in order."""

    @dg.asset_check(asset=name, name=f"{name}_schema", description=f"`{name}` matches its declared schema.")
    @one_line_failure
    def _check(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
        wh = llmfeedback.warehouse()
        wh.ensure_schema()
        have = wh.stored_columns(name)
        want = table(name).sql_columns()
        return dg.AssetCheckResult(passed=have == want, metadata={
            "expected": dg.MetadataValue.json([f"{n} {t}" for n, t in want]),
            "found": dg.MetadataValue.json([f"{n} {t}" for n, t in have])})

    return _check
