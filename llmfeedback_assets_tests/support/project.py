"""A small project on disk for tests: config, prompts and a DuckDB file in a temp dir, on the simulator."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def dataset(*parts: str) -> Path:
    """A file under ../shared/datasets, or skip the test cleanly where it is absent."""
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset not available: {path}")
    return path


def write_jsonl(path: Path, records: list) -> Path:
    """One JSON value per line (a str record is written as it is, for malformed-line tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
                    encoding="utf-8")
    return path


SIM_MODELS = [
    {"name": "alpha", "provider": "sim", "sim": {"quality": 0.9, "verbosity": 0.3}},
    {"name": "bravo", "provider": "sim", "sim": {"quality": 0.65, "verbosity": 0.5}},
    {"name": "charlie", "provider": "sim", "sim": {"quality": 0.45, "verbosity": 0.2}},
    {"name": "delta", "provider": "sim", "sim": {"quality": 0.2, "verbosity": 0.6}},
    {"name": "judge-clean", "provider": "sim", "price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0,
     "sim_judge": {"noise": 0.02, "position_bias": 0.0, "verbosity_bias": 0.0}},
    {"name": "judge-noisy", "provider": "sim", "price_input_per_mtok": 0.1, "price_output_per_mtok": 0.2,
     "sim_judge": {"noise": 0.4, "position_bias": 0.4, "verbosity_bias": 0.2}},
]


def write_prompts(folder: Path, n: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prompts.jsonl"
    with open(path, "w") as fh:
        for i in range(n):
            rec = {"question_id": i + 1, "category": ["math", "writing", "coding"][i % 3],
                   "turns": [f"Test question {i}: explain idea number {i} clearly."]}
            if i % 3 == 0:
                rec["turns"].append(f"Now summarise idea {i} in one sentence.")
            if i % 4 == 0:
                rec["reference"] = [f"Reference answer {i}."]
            fh.write(json.dumps(rec) + "\n")
    return path


def write_config(root: Path, n_prompts: int = 10, **overrides) -> Path:
    """A config YAML in `root` with its own prompts folder and DuckDB file; returns the YAML path."""
    write_prompts(root / "prompts", n_prompts)
    cfg = {
        "database": str(root / "warehouse.duckdb"),
        "models": SIM_MODELS,
        "responders": ["alpha", "bravo", "charlie", "delta"],
        "judges": ["judge-clean", "judge-noisy"],
        "prompt_sources": [{"path": str(root / "prompts")}],
        "leaderboard": {"bootstrap_rounds": 200, "seed": 0},
    }
    cfg.update(overrides)
    path = root / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
