"""Saving and loading reward models as versioned folders.

`save_reward_model` writes `<directory>/<version>/` with safetensors weights, the HF config and tokenizer,
`reward_config.json`, `card.json` (data, metrics, config, sha256 of every file) and a readable
`MODEL_CARD.md`, then points `<directory>/LATEST` at it. `load_reward_model` checks every checksum first.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from llmfeedback_assets.embedding.encoder import backbone_id
from llmfeedback_assets.ids import file_hash
from llmfeedback_assets.reward.data import RewardModelError, TrainResult, load_tokenizer
from llmfeedback_assets.reward.network import (
    FORMAT_VERSION,
    RewardHead,
    RewardModel,
    as_model,
    quiet_transformers,
    resolve_device,
)

HEAD_FILE = "head.safetensors"
REWARD_CONFIG_FILE = "reward_config.json"
CARD_FILE = "card.json"
CARD_MD_FILE = "MODEL_CARD.md"
LATEST_FILE = "LATEST"

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _card_markdown(card: dict) -> str:
    objective = card["model"]["objective"]
    loss = "pairwise loss" if objective == "rankings" else "rating regression"
    lines = [f"# Reward model {card['version']}", "",
             f"- objective: **{objective}** ({loss})",
             f"- mode: **{card['model']['kind']}**",
             f"- backbone: `{card['model']['backbone']}`",
             f"- max length: {card['model']['max_length']} tokens",
             f"- created: {card['created_at']}", ""]
    for section in ("metrics", "data", "truncation", "config"):
        if isinstance(card.get(section), dict) and card[section]:
            lines += [f"## {section.capitalize()}", "", "| key | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in card[section].items()]
            lines.append("")
    extra = {k: v for k, v in card.items()
             if k not in ("metrics", "data", "truncation", "config", "model", "files", "version",
                          "created_at", "objective", "mode")}
    if extra:
        lines += ["## Other", "", "```json", json.dumps(extra, indent=2), "```", ""]
    lines += ["## Files (sha256)", ""] + [f"- `{k}` {v}" for k, v in card["files"].items()] + [""]
    return "\n".join(lines)


def save_reward_model(model: RewardModel | TrainResult, directory: str | Path, card: dict | None = None, *,
                      version: str | None = None) -> Path:
    """Write a reward model to `directory/<version>/` and point `directory/LATEST` at it.

    The folder holds safetensors weights, the HF config and tokenizer, `reward_config.json`, `card.json`
    (data, metrics, config, sha256 of every weight/config file) and `MODEL_CARD.md`. It is written under a
    temporary name and renamed, so a crash never leaves a half-written version. `card` entries (e.g. the
    run id, data sources) are added to the card. `version` defaults to a UTC timestamp plus a random suffix.
    """
    result = model if isinstance(model, TrainResult) else None
    model = as_model(model)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    version = version or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    if not _VERSION_RE.match(version):
        raise RewardModelError(f"version {version!r} must be a plain folder name (letters, digits, . _ -)")
    final = root / version
    if final.exists():
        raise RewardModelError(f"reward model version {final} already exists")
    tmp = root / f".tmp-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with quiet_transformers():
            model.encoder.save_pretrained(tmp)
            model.tokenizer.save_pretrained(tmp)
        if model.head is not None:
            from safetensors.torch import save_file

            save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
                      str(tmp / HEAD_FILE))
        (tmp / REWARD_CONFIG_FILE).write_text(json.dumps(model.reward_config(), indent=2))
        files = {p.name: file_hash(p, None) for p in sorted(tmp.iterdir()) if p.is_file()}
        full_card = {"version": version, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "model": model.reward_config(), **(result.card() if result else {}), **(card or {}),
                     "files": files}
        full_card = _jsonable(full_card)
        (tmp / CARD_FILE).write_text(json.dumps(full_card, indent=2))
        (tmp / CARD_MD_FILE).write_text(_card_markdown(full_card))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    latest_tmp = root / f".{LATEST_FILE}.tmp"
    latest_tmp.write_text(version + "\n")
    os.replace(latest_tmp, root / LATEST_FILE)
    return final


def _resolve_version(path: Path) -> Path:
    if not path.exists():
        raise RewardModelError(f"no saved reward model at {path} (folder does not exist)")
    if (path / CARD_FILE).exists() or (path / REWARD_CONFIG_FILE).exists():
        return path
    latest = path / LATEST_FILE
    if latest.exists():
        target = path / latest.read_text().strip()
        if not target.is_dir():
            raise RewardModelError(f"{latest} points at {target.name!r}, which does not exist")
        return target
    versions = sorted(p for p in path.iterdir() if p.is_dir() and (p / CARD_FILE).exists())
    if not versions:
        raise RewardModelError(f"no saved reward model in {path} (no {CARD_FILE} and no {LATEST_FILE})")
    return versions[-1]


def load_reward_model(path: str | Path, *, device=None) -> RewardModel:
    """Load a reward model saved by `save_reward_model` (a version folder, or its parent: LATEST).

    Every file listed in card.json is checked against its sha256 first, so a truncated or altered weight
    file is reported as corrupt instead of loading garbage.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    folder = _resolve_version(Path(path))
    card_path = folder / CARD_FILE
    if not card_path.exists():
        raise RewardModelError(f"{folder}: missing {CARD_FILE}; not a complete saved reward model")
    try:
        card = json.loads(card_path.read_text())
        cfg = card["model"]
        files = card["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise RewardModelError(f"{card_path} is corrupt: {exc}") from None
    for name, digest in files.items():
        f = folder / name
        if not f.exists():
            raise RewardModelError(f"{folder}: missing file {name} (listed in {CARD_FILE})")
        if file_hash(f, None) != digest:
            raise RewardModelError(f"{f} is corrupt: its sha256 does not match {CARD_FILE}")
    weights = [n for n in files if n.endswith(".safetensors")]
    if not weights:
        raise RewardModelError(f"{folder}: no safetensors weights listed in {CARD_FILE}")
    if cfg.get("format_version") != FORMAT_VERSION:
        raise RewardModelError(f"{folder}: unsupported reward model format {cfg.get('format_version')!r}")
    device = resolve_device(device)
    try:
        tok = load_tokenizer(str(folder))
        with quiet_transformers():
            if cfg["kind"] == "full":
                encoder = AutoModelForSequenceClassification.from_pretrained(str(folder))
                head = None
            elif cfg["kind"] == "frozen":
                from safetensors.torch import load_file

                encoder = AutoModel.from_pretrained(str(folder))
                encoder.requires_grad_(False)
                head = RewardHead(int(cfg["head_dim"]), int(cfg["head_hidden"]))
                head.load_state_dict(load_file(str(folder / HEAD_FILE)))
            else:
                raise RewardModelError(f"{folder}: unknown kind {cfg['kind']!r}")
    except RewardModelError:
        raise
    except Exception as exc:  # safetensors/transformers raise many types for a damaged folder
        raise RewardModelError(
            f"cannot load reward model from {folder}: {type(exc).__name__}: {exc}") from exc
    model = RewardModel(encoder, tok, kind=cfg["kind"], objective=cfg["objective"],
                        max_length=int(cfg["max_length"]), head=head, backbone=cfg.get("backbone", ""),
                        precision=cfg.get("precision", "fp32"))
    model.card = card
    if model.kind == "frozen":
        # the encoder is the backbone's, unchanged (frozen): its vectors are the ones stored under the id the
        # model was trained with; a model saved before the id was recorded gets one from its own folder
        model.embedding_backbone = cfg.get("embedding_backbone") or backbone_id(
            folder, model.max_length, model.precision)
    return model.to(device).eval()


