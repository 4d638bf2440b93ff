"""One pydantic model of the YAML config.

The config file is the single place a user lists models, prompt sources and judging modes. Secrets are
never stored here: a real model names the environment variable (`api_key_env`) that holds its key.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from .sections import (
    FASTCHAT_DEFAULT_TEMPERATURE,
    FASTCHAT_TEMPERATURES,
    IMPORTED_SUFFIX,
    LOCAL_MAX_CONCURRENCY,
    LOCAL_PROVIDERS,
    REMOTE_MAX_CONCURRENCY,
    AnswerFormat,
    AnswerSource,
    ComparisonSource,
    ConfigError,
    ConversationJudgeConfig,
    CurationConfig,
    EvalLLM,
    ExportConfig,
    GenerationConfig,
    JudgeRoles,
    JudgingConfig,
    JudgingMode,
    JudgmentFormat,
    JudgmentSource,
    LeaderboardConfig,
    ModelSpec,
    PersonaSpec,
    PromptSource,
    Provider,
    ReferenceOutputs,
    ReferenceSource,
    RewardConfig,
    SftField,
    SftFormat,
    SftSource,
    SimJudgeSpec,
    SimResponderSpec,
    SynthConfig,
    WarehouseConfig,
    _Strict,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "data" / "config" / "llmfeedback.yaml"
CONFIG_ENV = "LLMFEEDBACK_CONFIG"
DB_ENV = "LLMFEEDBACK_DB"

__all__ = [
    "CONFIG_ENV", "DB_ENV", "DEFAULT_CONFIG_PATH", "FASTCHAT_DEFAULT_TEMPERATURE", "FASTCHAT_TEMPERATURES",
    "IMPORTED_SUFFIX", "LOCAL_MAX_CONCURRENCY", "LOCAL_PROVIDERS", "PROJECT_ROOT", "REMOTE_MAX_CONCURRENCY",
    "AnswerFormat", "AnswerSource", "ComparisonSource", "Config", "ConfigError", "ConversationJudgeConfig",
    "CurationConfig", "EvalLLM", "ExportConfig", "GenerationConfig", "JudgeRoles", "JudgingConfig",
    "JudgingMode", "JudgmentFormat", "JudgmentSource", "LeaderboardConfig", "ModelSpec", "PersonaSpec",
    "PromptSource", "Provider", "ReferenceOutputs", "ReferenceSource", "RewardConfig", "SftField",
    "SftFormat", "SftSource", "SimJudgeSpec", "SimResponderSpec", "SynthConfig", "WarehouseConfig",
    "config_path", "load_config",
]


class Config(_Strict):
    database: str = Field("data/warehouse.duckdb", description="DuckDB file, relative to project root")
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    seed: int = 0
    models: list[ModelSpec]
    responders: list[str] = Field(default_factory=list)
    judges: list[str] = Field(default_factory=list)
    prompt_sources: list[PromptSource] = Field(default_factory=list)
    answer_sources: list[AnswerSource] = Field(default_factory=list)
    judgment_sources: list[JudgmentSource] = Field(default_factory=list)
    reference_answers: list[ReferenceSource] = Field(default_factory=list)
    sft_sources: list[SftSource] = Field(
        default_factory=list, description="instruction-tuning pools to curate (DS2); without one, curation "
                                          "uses the responders' first-turn answers")
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    comparison_sources: list[ComparisonSource] = Field(default_factory=list)
    judging: JudgingConfig = Field(default_factory=JudgingConfig)
    leaderboard: LeaderboardConfig = Field(default_factory=LeaderboardConfig)
    synth: SynthConfig = Field(default_factory=SynthConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    curation: CurationConfig = Field(default_factory=CurationConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    reference_outputs: ReferenceOutputs | None = None
    incoming_dir: str = "data/incoming"
    max_prompt_chars: int = Field(
        100_000, ge=1, description="longest prompt (turns and reference answers together, in characters) "
                                   "that ingestion accepts; a longer record is rejected with its size, never "
                                   "truncated")
    models_dir: str = "data/models"

    # Set by the loader, not the user: where relative paths are resolved from.
    root: Path = Field(default=PROJECT_ROOT, exclude=True)
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _cross_refs(self):
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"models: duplicate name(s) {dupes}")
        known = set(names)
        for field in ("responders", "judges"):
            for i, n in enumerate(getattr(self, field)):
                if n not in known:
                    raise ValueError(f"{field}[{i}]: unknown model {n!r} (known: {sorted(known)})")
        if not self.responders and not self.answer_sources:
            raise ValueError("responders: list at least one model (or import answers with answer_sources)")
        if not self.prompt_sources and not self.answer_sources:
            raise ValueError("prompt_sources: list at least one source (or import answers with "
                             "answer_sources)")
        imported = [s.partition for s in self.judgment_sources]
        clash = sorted(set(imported) & known)
        if clash:
            raise ValueError(f"judgment_sources: imported judge partition(s) {clash} clash with model names")
        for ref in (self.synth.persona_model, self.synth.user_model, self.reward.reference_model):
            if ref is not None and ref not in known:
                raise ValueError(f"unknown model {ref!r} referenced (known: {sorted(known)})")
        listed = [(f"synth.eval_llms[{i}].model", e.model) for i, e in enumerate(self.synth.eval_llms)]
        listed += [(f"synth.judge.models[{i}]", j) for i, j in enumerate(self.synth.judge.models)]
        for where, name in listed:
            if name not in known:
                raise ValueError(f"{where}: unknown model {name!r}")
        return self

    # -- lookups ---------------------------------------------------------------------------------------
    def model(self, name: str) -> ModelSpec:
        spec = next((m for m in self.models if m.name == name), None)
        if spec is None:
            raise ConfigError(f"unknown model {name!r}; configured: {[m.name for m in self.models]}")
        return spec

    @property
    def conversation_judges(self) -> list[str]:
        """Judges of synthetic conversation turns: synth.judge.models, or the spine's judges if none."""
        return list(self.synth.judge.models or self.judges)

    @property
    def judge_partitions(self) -> list[str]:
        """Every judge_model partition: models that judge anything (spine and conversation judges) and
        every imported judge (`<judge> (imported)`)."""
        imported = [s.partition for s in self.judgment_sources]
        return list(dict.fromkeys([*self.judges, *self.conversation_judges, *imported]))

    def judge_roles(self, judge: str) -> JudgeRoles:
        """What the judge_model partition `judge` does: the one place every per-judge asset asks. An unknown
        partition key (a judge removed from the config) is a ConfigError naming the config file."""
        if judge not in self.judge_partitions:
            raise ConfigError(f"judge_model partition {judge!r} is not a configured judge "
                              f"({self.judge_partitions}) in {self.source}")
        modes = frozenset(self.judging.modes) if judge in self.judges else frozenset()
        return JudgeRoles(judge, modes, judge in self.conversation_judges,
                          tuple(s for s in self.judgment_sources if s.partition == judge))

    def asks(self, *modes: str) -> bool:
        """Whether judging.modes asks for any of these (the optional parts of the graph run only then)."""
        return any(m in self.judging.modes for m in modes)

    @property
    def reward_enabled(self) -> bool:  # the reward loop runs when rating or ranking feedback is asked for
        return self.asks("rating", "ranking")

    def same_family(self, name: str) -> list[str]:
        """Other models of `name`'s family (without allow_self_judging a judge does not grade them)."""
        family = next((m.family for m in self.models if m.name == name), None)
        return [m.name for m in self.models if family and m.family == family and m.name != name]

    def is_simulated_judge(self, partition: str) -> bool:  # an imported judge is not
        return any(m.name == partition and m.is_simulated for m in self.models)

    def resolve(self, path: str | Path) -> Path:
        return Path(path) if Path(path).is_absolute() else self.root / path

    @property
    def database_path(self) -> Path:
        override = os.environ.get(DB_ENV)
        return Path(override) if override else self.resolve(self.database)

    def check_secrets(self, names: list[str] | None = None) -> None:
        """Fail before any model call if a configured real model has no API key in the environment."""
        missing = []
        for m in self.models:
            if names is not None and m.name not in names:
                continue
            if m.provider in ("openai", "anthropic") and m.api_key_env:
                if not os.environ.get(m.api_key_env):
                    missing.append(f"{m.name} needs ${m.api_key_env}")
            elif m.provider == "anthropic" and not m.api_key_env:
                missing.append(f"{m.name} (anthropic) must set api_key_env")
            elif m.provider == "openai" and not m.api_key_env and not m.base_url:
                missing.append(f"{m.name} (openai without base_url) must set api_key_env")
        if missing:
            raise ConfigError("missing API key(s): " + "; ".join(missing))


def _format_validation_error(err: ValidationError, source: Path) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        parts.append(f"{loc}: {e['msg']}")
    return f"invalid config {source}: " + "; ".join(parts)


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the YAML config; every problem is reported with the field and the file."""
    source = Path(path) if path is not None else config_path()
    try:
        text = source.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {source}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {source} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {source} must be a mapping at the top level")
    root = Path(raw.pop("root")) if "root" in raw else _project_root_for(source)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
    cfg.root = root
    cfg.source = source.resolve()
    return cfg


def _project_root_for(source: Path) -> Path:
    """A config at <root>/data/config/x.yaml resolves paths against <root>; elsewhere, its own folder."""
    resolved = source.resolve()
    if resolved.parent.name == "config" and resolved.parent.parent.name == "data":
        return resolved.parent.parent.parent
    return resolved.parent
