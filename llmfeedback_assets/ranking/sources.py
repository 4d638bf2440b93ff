"""Readers for external pairwise comparisons: LLMFAO-style CSVs and MT-bench (FastChat) judgment files.

Both return the library's vote frame (model_a, model_b, winner in model_a/model_b/tie, ...), so a user's own
human votes rank and compare exactly like the project's LLM judges. Malformed rows raise a
`SourceFormatError` naming the file and line (CSV lines count the header as line 1; JSON arrays name the
record number instead).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import RankingError, RankingWarning

LLMFAO_COLUMNS = ["model_a", "model_b", "winner", "prompt_id", "worker", "source"]
MTBENCH_COLUMNS = [
    "prompt_id",
    "turn",
    "model_a",
    "model_b",
    "winner",
    "judge",
    "verdict_ab",
    "verdict_ba",
    "source",
]
_LEFT_RIGHT = {"left": "model_a", "right": "model_b", "tie": "tie"}


class SourceFormatError(RankingError):
    """A comparisons file that cannot be read; the message names the file and the line or record."""


def _load_model_names(path: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                key, name = str(obj["id"]), str(obj["name"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise SourceFormatError(
                    f"{path}:{lineno}: expected a JSON object with 'id' and 'name' ({exc})"
                ) from exc
            if not name.strip():
                raise SourceFormatError(f"{path}:{lineno}: model {key!r} has an empty name")
            names[key] = name
    return names


def read_llmfao_comparisons(path: str | Path, models_jsonl: str | Path | None = None) -> pd.DataFrame:
    """Read an LLMFAO-style CSV of votes: model_x, model_y, winner (left/right/tie), optional worker, prompt.

    Model ids are resolved to names with `models_jsonl` (id -> name) when given, else with the file's
    `left`/`right` name columns, else with a models.jsonl next to the CSV; otherwise model_x/model_y are taken
    as names. When both ids and name columns are present they must agree.
    Returns `LLMFAO_COLUMNS`: model_a, model_b, winner (model_a/model_b/tie), prompt_id, worker (None when
    absent), source (the file name).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SourceFormatError(f"{path}: cannot read as CSV ({exc})") from exc
    missing = [c for c in ("model_x", "model_y", "winner") if c not in raw.columns]
    if missing:
        raise SourceFormatError(f"{path}: missing columns {missing} (have {list(raw.columns)})")
    if raw.empty:
        raise SourceFormatError(f"{path}: no comparison rows")
    line = np.arange(len(raw)) + 2  # header is line 1

    def fail(mask: np.ndarray, what: str) -> None:
        bad = np.flatnonzero(mask)
        if bad.size:
            raise SourceFormatError(f"{path}:{int(line[bad[0]])}: {what} ({bad.size} such rows)")

    x, y = raw["model_x"].str.strip(), raw["model_y"].str.strip()
    fail(((x == "") | (y == "")).to_numpy(), "empty model_x or model_y")
    winner = raw["winner"].str.strip().str.lower().map(_LEFT_RIGHT)
    first_bad = winner.isna().to_numpy()
    if first_bad.any():
        k = int(np.flatnonzero(first_bad)[0])
        fail(first_bad, f"unknown winner {raw['winner'].iloc[k]!r}, expected left, right or tie")
    names_file = Path(models_jsonl) if models_jsonl is not None else None
    has_names = "left" in raw.columns and "right" in raw.columns
    if names_file is None and not has_names and (path.parent / "models.jsonl").exists():
        names_file = path.parent / "models.jsonl"
    if names_file is not None:
        names = _load_model_names(names_file)
        a, b = x.map(names), y.map(names)
        unknown = (a.isna() | b.isna()).to_numpy()
        if unknown.any():
            k = int(np.flatnonzero(unknown)[0])
            mid = x.iloc[k] if pd.isna(a.iloc[k]) else y.iloc[k]
            fail(unknown, f"model id {mid!r} is not in {names_file}")
        if has_names:
            differs = ((a != raw["left"].str.strip()) | (b != raw["right"].str.strip())).to_numpy()
            k = int(np.flatnonzero(differs)[0]) if differs.any() else 0
            fail(
                differs,
                f"ids resolve to {a.iloc[k]!r} / {b.iloc[k]!r} but the row names "
                f"{raw['left'].iloc[k]!r} / {raw['right'].iloc[k]!r}; wrong models file?",
            )
    elif has_names:
        a, b = raw["left"].str.strip(), raw["right"].str.strip()
        fail(((a == "") | (b == "")).to_numpy(), "empty left or right model name")
    else:
        a, b = x, y
    same = (a == b).to_numpy()
    if same.any():
        fail(same, f"model {a[same].iloc[0]!r} is compared with itself")
    worker = raw["worker"].where(raw["worker"].str.strip() != "", None) if "worker" in raw.columns else None
    prompt = raw["prompt"].where(raw["prompt"].str.strip() != "", None) if "prompt" in raw.columns else None
    return pd.DataFrame(
        {
            "model_a": a.to_numpy(dtype=object),
            "model_b": b.to_numpy(dtype=object),
            "winner": winner.to_numpy(dtype=object),
            "prompt_id": prompt.to_numpy(dtype=object) if prompt is not None else np.full(len(raw), None),
            "worker": worker.to_numpy(dtype=object) if worker is not None else np.full(len(raw), None),
            "source": path.name,
        },
        columns=LLMFAO_COLUMNS,
    )


def _records(path: Path) -> Iterator[tuple[str, dict]]:
    """(location, record) pairs from JSONL, a JSON array, or a JSON object of arrays (dataset splits)."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and path.suffix.lower() == ".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
        if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
            for split, items in data.items():
                for k, obj in enumerate(items):
                    yield f"{path}: record {k} of {split!r}", obj
            return
        if isinstance(data, list):
            for k, obj in enumerate(data):
                yield f"{path}: record {k}", obj
            return
        if isinstance(data, dict):
            yield f"{path}:1", data
            return
        raise SourceFormatError(f"{path}: expected JSON lines, an array of objects or an object of arrays")
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
        yield f"{path}:{lineno}", obj


_PAIR_VERDICT = {"model_1": "model_a", "model_2": "model_b", "tie": "tie"}
_HUMAN_VERDICT = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "tie (bothbad)": "tie"}


def _judge_name(value, where: str) -> str:
    # FastChat stores the judge as [model, prompt name]; the prompt variant (single/multi-turn, math) is not
    # a different judge, so only the model is kept.
    if isinstance(value, list | tuple) and value:
        return str(value[0])
    if isinstance(value, str) and value.strip():
        return value
    raise SourceFormatError(f"{where}: field 'judge' must be a name or [model, prompt], got {value!r}")


def read_mtbench_judgments(path: str | Path) -> pd.DataFrame:
    """Read MT-bench pairwise judgments: FastChat's JSONL or the human-judgment JSON/JSONL.

    FastChat records (question_id, model_1, model_2, g1_winner, g2_winner, judge, turn): g1 is the verdict
    with model_1 shown first, g2 with the order swapped, both in model terms; winner is their common verdict,
    and a tie when they disagree (as FastChat scores it). Records where either verdict is "error" are
    dropped with a RankingWarning (count in attrs["dropped_errors"]).
    Human records (question_id, model_a, model_b, winner, judge, turn): "tie (bothbad)" counts as a tie;
    verdict_ab/verdict_ba are None.
    Returns `MTBENCH_COLUMNS`: prompt_id (str), turn, model_a, model_b, winner, judge, verdict_ab,
    verdict_ba, source (the file name).
    """
    path = Path(path)
    if not path.exists():
        raise SourceFormatError(f"{path}: no such file")
    rows = []
    dropped = 0
    for where, obj in _records(path):
        if not isinstance(obj, dict):
            raise SourceFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        pairwise = "g1_winner" in obj or "g2_winner" in obj
        fields = (
            ("question_id", "model_1", "model_2", "g1_winner", "g2_winner", "judge")
            if pairwise
            else ("question_id", "model_a", "model_b", "winner", "judge")
        )
        missing = [f for f in fields if f not in obj]
        if missing:
            raise SourceFormatError(f"{where}: missing field(s) {missing}")
        turn = obj.get("turn", 1)
        if not isinstance(turn, int) or isinstance(turn, bool) or turn < 1:
            raise SourceFormatError(f"{where}: field 'turn' must be a positive integer, got {turn!r}")
        judge = _judge_name(obj["judge"], where)
        if pairwise:
            a, b = obj["model_1"], obj["model_2"]
            g = []
            for key in ("g1_winner", "g2_winner"):
                v = obj[key]
                if v == "error":
                    g.append(None)
                elif v in _PAIR_VERDICT:
                    g.append(_PAIR_VERDICT[v])
                else:
                    raise SourceFormatError(f"{where}: {key} {v!r} is not model_1, model_2, tie or error")
            if None in g:
                dropped += 1
                continue
            winner = g[0] if g[0] == g[1] else "tie"
            ab, ba = g
        else:
            a, b = obj["model_a"], obj["model_b"]
            v = obj["winner"]
            if v not in _HUMAN_VERDICT:
                raise SourceFormatError(f"{where}: winner {v!r} is not model_a, model_b or tie")
            winner, ab, ba = _HUMAN_VERDICT[v], None, None
        for field, name in (("model a", a), ("model b", b)):
            if not isinstance(name, str) or not name.strip():
                raise SourceFormatError(f"{where}: {field} must be a non-empty string, got {name!r}")
        if a == b:
            raise SourceFormatError(f"{where}: model {a!r} is compared with itself")
        rows.append((str(obj["question_id"]), turn, a, b, winner, judge, ab, ba, path.name))
    if not rows:
        raise SourceFormatError(
            f"{path}: no usable judgments" + (f" ({dropped} had error verdicts)" if dropped else "")
        )
    if dropped:
        warnings.warn(
            f"{path}: dropped {dropped} judgments with an 'error' verdict", RankingWarning, stacklevel=2
        )
    out = pd.DataFrame(rows, columns=MTBENCH_COLUMNS)
    out["turn"] = out["turn"].astype(np.int64)
    out.attrs["dropped_errors"] = dropped
    return out
