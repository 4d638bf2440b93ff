"""What the `responses` and `judgments` assets do with the config: generated and imported answers in one
table, and one judge partition judged through the gateway or imported from the user's files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ..config import Config, JudgeRoles
from ..ingest.imports import import_judgments
from ..llm import Gateway
from ..warehouse import columns, empty
from . import fastchat
from .pipeline import JudgeOptions, choose_pairs, judge_responses


def response_frame(generated: pd.DataFrame, imported: pd.DataFrame) -> pd.DataFrame:
    """Generated and imported answers as one `responses` table."""
    frames = [f for f in (generated, imported) if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else empty("responses")
    return frame[columns("responses")].astype({"source_line": "Int64"})


@dataclass
class PartitionResult:
    frame: pd.DataFrame
    rejected: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


def selected_pairs(config: Config, responses: pd.DataFrame) -> pd.DataFrame | None:
    """judging.pairs applied to the answers: the pairs every judge compares (None: all pairs)."""
    j = config.judging
    if j.pairs == "baseline" and j.baseline_model not in set(responses["responder_model"]):
        raise ValueError(f"judging.baseline_model {j.baseline_model!r} has no answers in `responses` "
                         f"(models: {sorted(set(responses['responder_model']))})")
    return choose_pairs(responses, j.pairs, k=j.pairs_k, seed=config.seed, baseline=j.baseline_model,
                        judged_choice=j.judged_choice)


def judge_options(config: Config, roles: JudgeRoles, responses: pd.DataFrame) -> JudgeOptions:
    prompts_file = config.judging.judge_prompts_file
    return JudgeOptions(
        modes=tuple(m for m in ("single", "pairwise") if roles.does(m)),
        allow_self_judging=config.judging.allow_self_judging,
        pairs=selected_pairs(config, responses) if roles.does("pairwise") else None,
        judged_choice=config.judging.judged_choice,
        same_family=frozenset(config.same_family(roles.judge)),
        fastchat=fastchat.load_judge_prompts(config.resolve(prompts_file)) if prompts_file else None)


def judge_partition(config: Config, roles: JudgeRoles, prompts: pd.DataFrame, responses: pd.DataFrame,
                    gateway: Callable[[], Gateway]) -> PartitionResult:
    """One judge_model partition: an imported judge's files, a model judge's calls, or (for a
    conversation-only judge) nothing."""
    if roles.imported:
        return _imported(config, roles, prompts, responses)
    options = judge_options(config, roles, responses)
    if not options.modes:
        return PartitionResult(empty("judgments"), log=[f"{roles.judge} does not judge responses; no "
                                                        f"judgments in this partition"])
    frame, stats = judge_responses(gateway(), prompts, responses, roles.judge, options)
    md = {"pair_selection": config.judging.pairs, "judge_prompts": "fastchat" if options.fastchat else "own"}
    if options.pairs is not None:
        md["pairs_selected"] = len(options.pairs)
    return PartitionResult(frame, metadata={**md, **(stats.as_metadata() if stats else {})})


def _imported(config: Config, roles: JudgeRoles, prompts: pd.DataFrame,
              responses: pd.DataFrame) -> PartitionResult:
    pairs = selected_pairs(config, responses) if config.judging.pairs != "all" else None
    got = import_judgments([(config.resolve(s.path), s.format) for s in roles.imported], roles.judge, prompts,
                           responses, columns("judgments"), config.judging.judged_choice, pairs)
    md = {"imported_rows": got.read, "imported_judgments": len(got.frame),
          "rejected_lines": len(got.rejected),
          "outside_selected_pairs": got.outside_pairs,
          "disagreements_with_recorded/single": got.disagreements.get("single", 0),
          "disagreements_with_recorded/pairwise": got.disagreements.get("pairwise", 0)}
    log = [f"{roles.judge}: imported {len(got.frame)} of {got.read} judgments; {len(got.rejected)} rejected, "
           f"{got.outside_pairs} outside the selected pairs"]
    return PartitionResult(got.frame, got.rejected, md, log)
