"""The sections of the YAML config: models and their simulator ground truth, the data sources, and one
pydantic model per top-level section. `config/__init__.py` puts them together in `Config`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Provider = Literal["openai", "anthropic", "sim", "transformers"]
JudgingMode = Literal["single", "pairwise", "quality", "rating", "ranking"]


class ConfigError(ValueError):
    """A config problem, phrased for the person who wrote the file."""


@dataclass(frozen=True)
class JudgeRoles:
    """What one judge does: the judging modes it applies to responses (empty for a conversation-only
    judge) and whether it judges synthetic conversation turns."""

    judge: str
    modes: frozenset[str]
    conversations: bool
    imported: tuple = ()  # JudgmentSource files behind an imported partition; it calls no model

    def does(self, mode: str) -> bool:
        return mode in self.modes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SimResponderSpec(_Strict):
    """Ground truth for a simulated responder."""

    quality: float = Field(0.5, ge=0.0, le=1.0, description="latent quality in [0, 1]")
    verbosity: float = Field(0.5, ge=0.0, le=1.0, description="how much filler the model writes")


class SimJudgeSpec(_Strict):
    """Biases of a simulated judge: all zero is a perfect judge."""

    noise: float = Field(0.1, ge=0.0, le=1.0, description="chance a grade moves to a neighbouring score")
    transition_matrix: list[list[float]] | None = Field(
        None, description="optional explicit 10x10 score transition matrix (rows sum to 1)"
    )
    position_bias: float = Field(0.0, ge=-1.0, le=1.0, description="extra preference for answer A")
    verbosity_bias: float = Field(0.0, ge=0.0, le=1.0, description=(
        "grade points (x3) per 40 words beyond an expected 110 (negative below it)"))
    self_preference: float = Field(0.0, ge=0.0, le=1.0, description="extra credit to its own answers")

    @field_validator("transition_matrix")
    @classmethod
    def _check_matrix(cls, m):
        if m is None:
            return m
        if len(m) != 10 or any(len(r) != 10 for r in m):
            raise ValueError("transition_matrix must be 10x10 (scores 1..10)")
        for i, row in enumerate(m):
            if any(x < 0 for x in row) or abs(sum(row) - 1.0) > 1e-6:
                raise ValueError(f"transition_matrix row {i + 1} must be non-negative and sum to 1")
        return m


# In-flight cap of a remote model: the gateway sizes its window below it from the measured latency and the
# rate limits (Little's law), so the cap only has to be out of the way: 6,000 requests/min at 10 s is 1,000
# in flight, the size of the OpenAI and Anthropic SDKs' own connection pools. A local model's cap is its
# batch size (transformers) and stays small.
REMOTE_MAX_CONCURRENCY = 1000
LOCAL_MAX_CONCURRENCY = 16
LOCAL_PROVIDERS = ("sim", "transformers")


class ModelSpec(_Strict):
    name: str = Field(..., description="the name used everywhere: partition key, leaderboard row")
    provider: Provider
    model: str | None = Field(None, description="provider model id; defaults to name")
    base_url: str | None = Field(None, description="http(s) URL of the API, e.g. an OpenAI-compatible "
                                 "server's http://host:8000/v1; default: the provider's own")
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, gt=0)
    requests_per_minute: float = Field(600, gt=0)
    input_tokens_per_minute: float = Field(1_000_000, gt=0)
    output_tokens_per_minute: float = Field(200_000, gt=0)
    max_concurrency: int = Field(REMOTE_MAX_CONCURRENCY, gt=0, description=(
        "upper cap on requests in flight; the gateway's window follows latency and rate limits below it "
        f"(default {REMOTE_MAX_CONCURRENCY}; {LOCAL_MAX_CONCURRENCY} for sim and transformers, where it is "
        "the batch size)"))
    price_input_per_mtok: float = Field(0.0, ge=0.0)
    price_output_per_mtok: float = Field(0.0, ge=0.0)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(6, ge=0)
    batch: bool = Field(False, description="use the provider's batch API (half price, slow)")
    sim: SimResponderSpec | None = None
    sim_judge: SimJudgeSpec | None = None
    family: str | None = Field(None, description="model family: without judging.allow_self_judging a judge "
                                                 "grades no model of its own family")

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not v or any(c in v for c in "/\\\n\t ,"):
            raise ValueError("model name must be non-empty without spaces, commas or slashes")
        return v

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlsplit

        v = v.strip()
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as exc:
            raise ValueError(f"base_url {v!r} is not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http:// or https:// URL with a host, such as "
                             f"http://127.0.0.1:8000/v1; got {v!r}")
        return v

    @model_validator(mode="after")
    def _local_concurrency(self) -> ModelSpec:
        if "max_concurrency" not in self.model_fields_set and self.provider in LOCAL_PROVIDERS:
            self.max_concurrency = LOCAL_MAX_CONCURRENCY
        return self

    @property
    def model_id(self) -> str:
        return self.model or self.name

    @property
    def is_simulated(self) -> bool:
        return self.provider == "sim"


class PromptSource(_Strict):
    path: str = Field(..., description="a folder or file of prompts, relative to the config's project root")
    format: Literal["auto", "mtbench", "llmonitor", "instruction", "csv"] = "auto"
    limit: int | None = Field(None, gt=0)


class ComparisonSource(_Strict):
    """External pairwise votes to rank and compare with the LLM judges (human or another judge)."""

    path: str
    format: Literal["llmfao", "mtbench"] = "llmfao"
    name: str = Field(..., description="label used as the judge name in leaderboards and agreement")
    human: bool = Field(True, description="pooled as the human side of judge-vs-human agreement")
    models_jsonl: str | None = Field(None, description="LLMFAO models.jsonl to resolve model ids to names")


AnswerFormat = Literal["auto", "fastchat", "alpaca_eval", "llmfao", "sparse_feedback"]
JudgmentFormat = Literal["auto", "fastchat", "llmfao", "sparse_feedback"]
IMPORTED_SUFFIX = " (imported)"


class AnswerSource(_Strict):
    """Answers a user already has (FastChat, alpaca_eval, LLMFAO, sparse feedback): they join `responses`
    labelled with their file and are never sent to a provider."""

    path: str = Field(..., description="a file or a folder of answer files, relative to the project root")
    format: AnswerFormat = "auto"


class ReferenceOutputs(AnswerSource):
    """rm_win_rate's reference answers read from a file (e.g. davinci003.json), as upstream, not generated."""

    model: str | None = None  # who wrote them; default the file's generator / model field


class JudgmentSource(_Strict):
    """Judgments a user already has; they become the judge_model partition `<judge> (imported)`."""

    path: str = Field(..., description="a judgment file (FastChat model_judgment JSONL, LLMFAO comparison "
                                       "CSV, sparse-feedback ratings/rankings CSV, JSON lines or Parquet, "
                                       "or its reward-model pairs JSON)")
    format: JudgmentFormat = "auto"
    judge: str | None = Field(None, description="judge name; default from the file name (FastChat's "
                                                "gpt-4_single.jsonl -> gpt-4, LLMFAO's crowd-comparisons.csv "
                                                "-> crowd)")

    @property
    def judge_name(self) -> str:
        if self.judge:
            return self.judge
        stem = Path(self.path).name.split(".")[0]
        for suffix in ("_single", "_pair", "-comparisons", "_comparisons"):
            if stem.endswith(suffix) and len(stem) > len(suffix):
                return stem[: -len(suffix)]
        return stem

    @property
    def partition(self) -> str:
        return self.judge_name + IMPORTED_SUFFIX


class ReferenceSource(_Strict):
    path: str = Field(..., description="FastChat reference_answer JSONL (question_id, choices[0].turns)")


SftFormat = Literal["auto", "json", "jsonl", "csv", "parquet"]
SftField = Literal["instruction", "input", "output", "messages"]


class SftSource(_Strict):
    """An instruction-tuning pool the user already has (DS2's input): with one configured, curation scores,
    embeds, curates and selects from the pool instead of the platform's own first-turn answers."""

    path: str = Field(..., description="a pool file or a folder of them (.json, .jsonl, .csv, .tsv, "
                                       ".parquet), relative to the project root")
    format: SftFormat = Field("auto", description="file format; auto: by suffix")
    columns: dict[SftField, str] | None = Field(
        None, description="our field -> the file's column, e.g. {instruction: query, output: answer}; fields "
                          "not mapped are detected (Alpaca, Dolly, messages, ShareGPT names)")
    name: str | None = Field(None, description="label of the pool's examples (curation_examples.dataset); "
                                               "default each file's stem")

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, v):
        if v is None:
            return v
        if "messages" in v and len(v) > 1:
            raise ValueError("map either messages (a chat list) or instruction/input/output, not both")
        if any(not name.strip() for name in v.values()):
            raise ValueError("column names must be non-empty")
        return v


# FastChat's temperature_config for MT-bench answers (gen_api_answer/gen_model_answer); other categories 0.7.
FASTCHAT_TEMPERATURES = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                         "reasoning": 0.0, "stem": 0.1, "humanities": 0.1, "arena-hard-200": 0.0}
FASTCHAT_DEFAULT_TEMPERATURE = 0.7


class GenerationConfig(_Strict):
    num_choices: int = Field(1, ge=1, description="answers per prompt and responder (FastChat's "
                                                  "num_choices)")
    temperature_by_category: Literal["fastchat"] | dict[str, float] | None = Field(
        None, description="per-category sampling temperature: 'fastchat' (writing/roleplay 0.7, "
                          "extraction/math/coding/reasoning 0.0, stem/humanities 0.1, other 0.7) or a "
                          "mapping with an optional 'default'; unset: each model's own temperature")

    def temperature_for(self, category: str | None) -> float | None:
        """The temperature a prompt of `category` is answered with; None keeps the model's own."""
        table = self.temperature_by_category
        if table is None:
            return None
        if table == "fastchat":
            return FASTCHAT_TEMPERATURES.get(category or "", FASTCHAT_DEFAULT_TEMPERATURE)
        if category in table:
            return float(table[category])
        return float(table["default"]) if "default" in table else None


class JudgingConfig(_Strict):
    modes: list[JudgingMode] = Field(default_factory=lambda: ["single", "pairwise"])
    allow_self_judging: bool = False
    judge_prompts_file: str | None = Field(
        None, description="FastChat's judge_prompts.jsonl: MT-bench questions are judged with the original "
                          "prompts (reference-guided for math/reasoning/coding, multi-turn for turn 2)")
    pairs: Literal["all", "baseline", "llmfao", "adaptive"] = Field(
        "all", description="which pairs are compared: all pairs, each model against baseline_model "
                           "(FastChat's pairwise-baseline), LLMFAO's most-distant-neighbour graph, or "
                           "adaptive: in rounds, where the ranking is least certain, within adaptive_budget")
    baseline_model: str | None = Field(None, description="the baseline of pairs: baseline (a responder or an "
                                                         "imported answer's model)")
    pairs_k: int = Field(3, ge=1, description="neighbours per model under pairs: llmfao")
    adaptive_budget: float = Field(0.25, gt=0, description=(
        "pairs: adaptive: pairwise judge calls allowed, as a share of all-pairs' calls (0 < x <= 1) or a "
        "whole number of calls (> 1)"))
    adaptive_round_size: int | None = Field(None, ge=1, description=(
        "pairs: adaptive: (prompt, pair) candidates judged per round; default the budget in about 8 rounds"))
    adaptive_target_width: float | None = Field(None, gt=0, description=(
        "pairs: adaptive: stop early once every model's 95% interval is at most this wide, in Elo points"))
    judged_choice: int = Field(0, ge=0, description="which of num_choices answers is judged (FastChat: 0)")
    max_parse_failure_rate: float = Field(0.2, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        if isinstance(data, dict) and "pairwise_pairs" in data:
            raise ValueError("judging.pairwise_pairs was renamed judging.pairs (all | baseline | llmfao | "
                             "adaptive)")
        return data

    @field_validator("adaptive_budget", mode="before")
    @classmethod
    def _budget_is_a_number(cls, v):
        if isinstance(v, bool):
            raise ValueError("adaptive_budget must be a number: a share of all-pairs' calls (0.25) or a "
                             "count of calls")
        return v

    @field_validator("adaptive_budget")
    @classmethod
    def _whole_budget(cls, v: float) -> float:
        if v > 1 and not float(v).is_integer():
            raise ValueError(f"a budget above 1 counts judge calls and must be a whole number, got {v}; "
                             f"write a share of all-pairs' calls as 0 < x <= 1 (0.25 = a quarter)")
        return v

    @model_validator(mode="after")
    def _baseline(self):
        if self.pairs == "baseline" and not self.baseline_model:
            raise ValueError("judging.pairs: baseline needs judging.baseline_model")
        return self


class LeaderboardConfig(_Strict):
    bootstrap_rounds: int = Field(1000, ge=0)
    seed: int = 0


class PersonaSpec(_Strict):
    persona: str
    interests: list[str] = Field(default_factory=list)
    style: str = ""


class EvalLLM(_Strict):
    model: str
    sample_weight: float = Field(1.0, gt=0)


class ConversationJudgeConfig(_Strict):
    models: list[str] = Field(default_factory=list)
    choice_strategy: Literal["min_cost", "random"] = "min_cost"
    temperature: float = 0.0
    timeout_s: float = 60.0


class SynthConfig(_Strict):
    use_personas: bool = True
    personas: list[PersonaSpec] = Field(default_factory=list)
    generate_num_personas: int = Field(0, ge=0)
    persona_model: str | None = None
    user_model: str | None = None
    user_temperature: float = 0.8
    eval_llms: list[EvalLLM] = Field(default_factory=list)
    num_turns_min: int = Field(1, ge=1)
    num_turns_max: int = Field(3, ge=1)
    conversations_per_persona: int = Field(1, ge=1)
    seed: int = 0
    judge: ConversationJudgeConfig = Field(default_factory=ConversationJudgeConfig)

    @model_validator(mode="after")
    def _turns(self):
        if self.num_turns_max < self.num_turns_min:
            raise ValueError("num_turns_max must be >= num_turns_min")
        return self


class WarehouseConfig(_Strict):
    """Where the tables live: the embedded DuckDB file (`database`) or a DuckLake shared by many machines."""

    backend: Literal["duckdb", "ducklake"] = Field(
        "duckdb", description="duckdb: the one file at `database`; ducklake: catalog + Parquet data path")
    catalog: str | None = Field(None, description=(
        "DuckLake catalog after `ducklake:`, e.g. `postgres:dbname=lake host=db user=llmfeedback`; the "
        "password comes from $PGPASSWORD, never the config"))
    data_path: str | None = Field(None, description=(
        "folder of the lake's Parquet files: a shared volume (relative paths resolve against the project) "
        "or s3://bucket/prefix (keys from $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, endpoint from "
        "$AWS_ENDPOINT_URL)"))
    metadata_schema: str | None = Field(None, description="PostgreSQL schema of the catalog tables "
                                                          "(one database can hold several lakes)")

    @model_validator(mode="after")
    def _lake_needs_places(self):
        if self.backend == "ducklake":
            missing = [k for k in ("catalog", "data_path") if not getattr(self, k)]
            if missing:
                need = " and ".join(f"warehouse.{k}" for k in missing)
                raise ValueError(f"warehouse.backend ducklake needs {need}")
        if self.catalog and "password" in self.catalog.lower():
            raise ValueError("warehouse.catalog must not hold a password: set $PGPASSWORD (secrets stay in "
                             "the environment)")
        return self


class ExportConfig(_Strict):
    database_url: str = Field("sqlite:///data/exports/backfill.sqlite")
    batch_size: int = Field(200, gt=0)


class CurationConfig(_Strict):
    num_classes: int = 6
    score_clip_low: int = 4
    score_clip_high: int = 9
    hoc_rounds: int = 50
    hoc_sample_size: int = 50_000
    detection_epochs: int = 21
    k: int = 10
    confidence_threshold: float = 0.5
    target_size: int = 1000
    embedding_model: str | None = Field(None, description="sentence-embedding model path; default MiniLM")
    seed: int = 0
    # answers to one instruction are never each other's neighbours (DS2 assumes one answer per instruction)
    neighbours_from_other_instructions: bool = True


class RewardConfig(_Strict):
    backbone: str | None = Field(None, description="HF model path; default the packaged MiniLM")
    mode: Literal["frozen", "full"] = "frozen"
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 1e-3
    max_length: int = 256
    n: int = 4  # best-of-n: samples per prompt and responder
    sample_temperature: float = Field(1.0, ge=0.0, le=2.0)  # best-of-n sampling, as upstream's 1.0
    reference_model: str | None = None
    seed: int = 0
    repeated_ratings: Literal["first", "mean"] = "first"  # consistency: first rating (upstream) or the mean

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        if isinstance(data, dict) and "n_samples" in data:
            raise ValueError("reward.n_samples was renamed reward.n (best-of-n samples per prompt and "
                             "responder)")
        return data
