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
from .adaptive import AdaptiveResult
from .pipeline import AdaptiveOptions, JudgeOptions, choose_pairs, judge_adaptively, judge_responses


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
    j = config.judging
    md = {"pair_selection": j.pairs, "judge_prompts": "fastchat" if options.fastchat else "own"}
    if j.pairs == "adaptive" and "pairwise" in options.modes:
        settings = AdaptiveOptions(j.adaptive_budget, j.adaptive_round_size, j.adaptive_target_width,
                                   config.seed)
        frame, stats, result = judge_adaptively(gateway(), prompts, responses, roles.judge, options, settings)
        md.update(adaptive_metadata(result))
    else:
        frame, stats = judge_responses(gateway(), prompts, responses, roles.judge, options)
    if options.pairs is not None:
        md["pairs_selected"] = len(options.pairs)
    return PartitionResult(frame, metadata={**md, **(stats.as_metadata() if stats else {})})


def adaptive_metadata(result: AdaptiveResult) -> dict:
    """What a person checks on an adaptive partition: rounds, pairwise calls against all-pairs' and the
    budget, why it stopped, and each model's final 95% interval width (Elo points; None: not comparable)."""
    widths = {str(m): (round(float(w), 1) if w != float("inf") else None) for m, w in result.widths.items()}
    finite = [w for w in widths.values() if w is not None]
    share = round(result.calls_used / result.all_calls, 4) if result.all_calls else 0.0
    return {"adaptive_rounds": len(result.rounds), "adaptive_pairwise_calls": result.calls_used,
            "adaptive_all_pairs_calls": result.all_calls, "adaptive_budget_calls": result.budget_calls,
            "adaptive_calls_share": share,
            "adaptive_stop": result.stop, "adaptive_max_width_elo": max(finite) if finite else None,
            "adaptive_widths_elo": widths, "adaptive_round_log": result.rounds}


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
