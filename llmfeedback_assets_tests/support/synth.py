"""A small simulator project with a `synth:` section, shared by the synth and export tests."""

from __future__ import annotations

from pathlib import Path

from .project import SIM_MODELS, write_config

SYNTH_MODELS = [*SIM_MODELS,
                {"name": "user-sim", "provider": "sim", "sim": {"quality": 0.6}},
                {"name": "shy-user", "provider": "sim", "sim": {"quality": 0.2}},
                {"name": "persona-gen", "provider": "sim", "sim": {"quality": 0.3}}]
DEAD = {"name": "dead", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "max_retries": 0,
        "timeout_s": 2}
PERSONAS = [
    {"persona": "A night-shift nurse in Leeds who runs to unwind.",
     "interests": ["night shifts", "trail running"], "style": "terse"},
    {"persona": "A retired ferry captain who restores old radios.", "interests": ["valve radios", "tides"],
     "style": "formal"},
    # the first one again, spelled differently: a duplicate
    {"persona": "a night-shift NURSE in Leeds   who runs to unwind.", "interests": ["knitting"]},
]
EVAL_LLMS = [{"model": "alpha", "sample_weight": 1.0}, {"model": "bravo", "sample_weight": 1.0},
             {"model": "charlie", "sample_weight": 1.0}, {"model": "delta", "sample_weight": 1.0}]


def synth_config(root: Path, models: list | None = None, **synth_overrides) -> Path:
    """A small simulator project with a `synth:` section; overrides replace keys of that section."""
    section = {"personas": PERSONAS, "generate_num_personas": 4, "persona_model": "persona-gen",
               "user_model": "user-sim", "eval_llms": EVAL_LLMS, "num_turns_min": 1, "num_turns_max": 3,
               "conversations_per_persona": 2, "seed": 7,
               "judge": {"models": ["alpha", "judge-clean", "judge-noisy"], "choice_strategy": "min_cost"}}
    section.update(synth_overrides)
    return write_config(root, n_prompts=2, models=models or SYNTH_MODELS, synth=section,
                        export={"database_url": f"sqlite:///{root / 'export.sqlite'}", "batch_size": 3})
