"""Selected data as JSONL for instruction tuning."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path


def training_records(instructions: Sequence[str], inputs: Sequence[str | None], responses: Sequence[str],
                     ids: Sequence[str] | None = None, fmt: str = "messages",
                     extra: dict[str, Sequence] | None = None) -> list[dict]:
    """One record per example. fmt="messages": {"messages": [user, assistant]} (TRL / open-instruct chat
    format; a non-empty input is appended to the instruction after a blank line); fmt="alpaca":
    {"instruction", "input", "output"}. `ids` and the `extra` columns (e.g. scores) are added per record."""
    if fmt not in ("messages", "alpaca"):
        raise ValueError(f"fmt must be 'messages' or 'alpaca', got {fmt!r}")
    n = len(instructions)
    columns = {"inputs": inputs, "responses": responses, **({"ids": ids} if ids is not None else {}),
               **(extra or {})}
    for name, col in columns.items():
        if len(col) != n:
            raise ValueError(f"{name} has {len(col)} entries, instructions has {n}")
    out = []
    for i in range(n):
        inp = inputs[i]
        inp = "" if inp is None or str(inp).strip().lower() in ("", "nan") else str(inp)
        if fmt == "messages":
            prompt = instructions[i] + (f"\n\n{inp}" if inp else "")
            rec = {"messages": [{"role": "user", "content": prompt},
                                {"role": "assistant", "content": responses[i]}]}
        else:
            rec = {"instruction": instructions[i], "input": inp, "output": responses[i]}
        if ids is not None:
            rec["id"] = ids[i]
        for name, col in (extra or {}).items():
            value = col[i]
            rec[name] = value.item() if hasattr(value, "item") else value
        out.append(rec)
    return out


def write_jsonl(records: Iterable[dict], path: str | Path) -> int:
    """Write records one JSON object per line (UTF-8, atomically via a temp file); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count
