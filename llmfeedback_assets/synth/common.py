"""Small helpers shared by the synth modules: seeded generators, run-stat totals, config lookups."""

from __future__ import annotations

from ..config import Config, ConfigError


def _where(config: Config) -> str:
    return f" in {config.source}" if config.source else ""


def synth_configured(config: Config) -> bool:
    """Whether the config asks for conversations at all: a config without a user model or eval models (the
    synth section left out) plans none, so running the whole graph never fails on an unused feature."""
    return bool(config.synth.user_model or config.synth.eval_llms)


def user_model(config: Config) -> str:
    if not config.synth.user_model:
        raise ConfigError(f"synth.user_model: name the model that plays the user{_where(config)}")
    return config.synth.user_model


def persona_model(config: Config) -> str:
    """The persona generator; the user simulator stands in when none is named."""
    name = config.synth.persona_model or config.synth.user_model
    if not name:
        raise ConfigError(f"synth.persona_model: name the model that invents personas "
                          f"(generate_num_personas is {config.synth.generate_num_personas}){_where(config)}")
    return name


def eval_llms(config: Config) -> list[tuple[str, float]]:
    """(model, weight) of the models compared side by side; at least two distinct ones."""
    seen: dict[str, float] = {}
    for e in config.synth.eval_llms:
        if e.model in seen:
            raise ConfigError(f"synth.eval_llms: {e.model!r} is listed twice{_where(config)}")
        seen[e.model] = e.sample_weight
    if len(seen) < 2:
        raise ConfigError(f"synth.eval_llms: list at least two models to compare (found {list(seen)})"
                          f"{_where(config)}")
    return list(seen.items())


