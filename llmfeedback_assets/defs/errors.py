"""Errors written for the user fail a step with their one line, not with 80 lines of traceback.

A run that stops on a missing API key or a missing prompt folder shows `dagster.Failure(description=<that
line>)`: the UI and the CLI print the description first. Only the error classes whose message is written for
the person running the pipeline (a configuration or an input they can fix) are turned into a Failure; a
plain ValueError, KeyError or RuntimeError is a bug, and its traceback is what a developer needs, so it
propagates untouched. The messages name files, fields and environment variables, never a secret's value.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from ..warehouse import SnapshotLog, recording

F = TypeVar("F", bound=Callable)

CONFIGURATION, INPUT, PROVIDER = "configuration", "input", "model provider"
WHAT_TO_DO = {
    CONFIGURATION: "fix the config (or export the environment variable it names) and rerun; `make dev` "
                   "reads the environment when it starts, so restart it after exporting a key",
    INPUT: "fix or remove the file or row named (or its entry in the config) and rerun; nothing was "
           "written for this step",
    PROVIDER: "the provider refused the run (key, model name, quota or URL); fix that and rerun: answers "
              "already received are in llm_journal and are not paid for again",
}


@functools.cache
def user_errors() -> dict[type[Exception], str]:
    """The deliberate list: each error class whose message is written for the user, and its kind.

    Imported when an error is being handled rather than when the code location loads: the export module
    pulls in SQLAlchemy, which the code location must not import."""
    from ..config import ConfigError
    from ..curation.pipeline import CurationFlowError
    from ..export import ExportError
    from ..ingest import AnswerSourceError, JudgmentSourceError, PromptSourceError, SftSourceError
    from ..judging.fastchat import JudgePromptsError
    from ..llm.types import FatalModelError
    from ..ranking.sources import SourceFormatError
    from ..reward.bestofn import WinRateError
    from ..reward.data import RewardModelError
    from ..reward.feedback import FeedbackError
    from ..warehouse.lake import LakeError
    from ..warehouse.store import WarehouseVersionError
    from ..warehouse.table import WarehouseDataError

    return {ConfigError: CONFIGURATION, JudgePromptsError: CONFIGURATION,
            PromptSourceError: INPUT, AnswerSourceError: INPUT, JudgmentSourceError: INPUT,
            SftSourceError: INPUT, SourceFormatError: INPUT, FeedbackError: INPUT, CurationFlowError: INPUT,
            RewardModelError: INPUT, WinRateError: INPUT, WarehouseDataError: INPUT, ExportError: INPUT,
            FatalModelError: PROVIDER, LakeError: CONFIGURATION, WarehouseVersionError: CONFIGURATION}


def kind_of(exc: BaseException) -> str | None:
    """The kind of a user-facing error (configuration, input, model provider), or None for a bug."""
    return next((kind for cls, kind in user_errors().items() if isinstance(exc, cls)), None)


def failure_for(exc: BaseException, kind: str) -> dg.Failure:
    """The Failure for a user-facing error: its first line as the description, the rest (rare) and what
    to do as metadata. No retries: rerunning the same config or file fails the same way."""
    line, _, rest = (str(exc).strip() or type(exc).__name__).partition("\n")
    metadata: dict = {"error": type(exc).__name__, "kind": kind, "what to do": WHAT_TO_DO[kind]}
    if rest.strip():
        metadata["details"] = dg.MetadataValue.text(rest.strip())
    return dg.Failure(description=line.strip(), metadata=metadata, allow_retries=False)


def one_line_failure(fn: F) -> F:
    """Decorate an asset or asset-check body (directly under `@dg.asset(...)`/`@dg.asset_check(...)`): a
    user-facing error becomes `dagster.Failure`, raised `from None` so the error chain does not repeat the
    traceback. functools.wraps keeps the name and the signature Dagster reads (context, resources).

    It also records the warehouse snapshots the body read and wrote (`warehouse.recording`) into the
    metadata of the materialization it returns, so every table asset names the data it was computed from."""

    def convert(exc: Exception) -> None:
        kind = kind_of(exc)
        if kind is not None:
            raise failure_for(exc, kind) from None

    if inspect.isgeneratorfunction(fn):  # an asset that yields its result and check results

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            snapshots, body = SnapshotLog(), fn(*args, **kwargs)
            while True:
                # recording only while the body runs: a context variable set across a yield would stay set
                # in the caller's context until the generator ends
                with recording(snapshots):
                    try:
                        item = next(body)
                    except StopIteration as stop:
                        return stop.value
                    except Exception as exc:
                        convert(exc)
                        raise
                yield with_snapshots(item, snapshots)

        generator.one_line_failure = True  # type: ignore[attr-defined]
        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def body(*args, **kwargs):
        with recording() as snapshots:
            try:
                return with_snapshots(fn(*args, **kwargs), snapshots)
            except Exception as exc:
                convert(exc)
                raise

    body.one_line_failure = True  # type: ignore[attr-defined]  (a test finds every body wrapped)
    return body  # type: ignore[return-value]


def with_snapshots(result, snapshots: SnapshotLog):
    """A MaterializeResult with the snapshots read and written added to its metadata; anything else as is."""
    if not isinstance(result, dg.MaterializeResult):
        return result
    extra = snapshots.metadata()
    return result._replace(metadata={**(result.metadata or {}), **extra}) if extra else result
