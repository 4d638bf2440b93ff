"""Synthetic users and side-by-side conversations: personas, persona-conditioned user simulation, two eval
models per conversation, per-turn judgments by a judge that took no part, and a dry-run cost estimate."""

from . import sim_handlers
from .common import synth_configured
from .conversations import (
    COMPLETE,
    PARTIAL,
    ConversationPlan,
    ConversationResult,
    draw_pair,
    generate_conversations,
    pair_probabilities,
    plan_conversations,
)
from .cost import estimate_synth_cost, format_synth_cost
from .judge import (
    JudgeResult,
    assign_judge,
    eligible_judges,
    judge_conversations,
    turn_items,
    with_judge_timeout,
)
from .personas import PersonaResult, build_personas, persona_id

sim_handlers.register()

__all__ = ["COMPLETE", "PARTIAL", "ConversationPlan", "ConversationResult", "JudgeResult", "PersonaResult",
           "assign_judge", "build_personas", "draw_pair", "eligible_judges", "estimate_synth_cost",
           "format_synth_cost", "generate_conversations", "judge_conversations", "pair_probabilities",
           "persona_id", "plan_conversations", "synth_configured", "turn_items", "with_judge_timeout"]
