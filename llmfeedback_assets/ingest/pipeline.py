"""What the prompts asset runs: every configured source (a file or a folder) read into one de-duplicated
prompt table, plus the rejects and the metadata shown in the UI.

Only a source that cannot be read at all, or a run that ends with no prompts, raises `PromptSourceError`,
before any model is called; a bad line or a bad file inside a folder is a `Rejected`.

Every path in the result (prompt rows, rejects, ``files``) is `display_path`: valid UTF-8, so the tables,
the UI metadata and Dagster's event log can store it even when a file's name is not UTF-8 (such a file is
read like any other; its name shows each bad byte as ``\\xNN``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .readers import read_prompt_file
from .records import (
    DEFAULT_MAX_PROMPT_CHARS,
    PROMPT_COLUMNS,
    REJECTED_COLUMNS,
    PromptSourceError,
    Rejected,
    check_format,
    check_max_prompt_chars,
    display_path,
)

# README.md, LICENSE, LICENSE.CC-BY, COPYING-2 ... describe a dataset folder; they hold no prompts
_DOC_FILE = re.compile(r"(readme|licen[cs]e|copying|notice)([._-].*)?", re.IGNORECASE)


@dataclass
class IngestResult:
    prompts: pd.DataFrame  # columns exactly PROMPT_COLUMNS
    rejected: list[Rejected]
    files: list[str]  # display_path of every file read
    duplicates: int = 0  # prompts dropped because an identical prompt (same id) came first

    def rejected_frame(self) -> pd.DataFrame:
        """The rejects as rows for the ``rejected_inputs`` table.

        The caller adds ``asset`` and ``rejected_at``.
        """
        return pd.DataFrame(
            [[r.source_file, r.line, r.reason, r.raw] for r in self.rejected], columns=REJECTED_COLUMNS
        ).astype({"line": "int64"})

    def metadata(self, preview_rows: int = 10) -> dict[str, Any]:
        """Plain values for the UI: counts, categories and markdown previews of prompts and rejects."""
        cats = self.prompts["category"].value_counts().sort_index()
        prompt_rows = [
            [r.prompt_id, r.category, r.n_turns, _short(r.turns[0], 80)]
            for r in self.prompts.head(preview_rows).itertuples()
        ]
        reject_rows = [
            [Path(r.source_file).name, r.line, _short(r.reason, 120)] for r in self.rejected[:preview_rows]
        ]
        return {
            "num_prompts": len(self.prompts),
            "num_files": len(self.files),
            "num_rejected": len(self.rejected),
            "num_duplicates": self.duplicates,
            "num_two_turn": int((self.prompts["n_turns"] > 1).sum()),
            "num_with_reference": int(self.prompts["reference"].map(len).gt(0).sum()),
            "categories": {str(k): int(v) for k, v in cats.items()},
            "preview": _markdown(["prompt_id", "category", "turns", "first turn"], prompt_rows),
            "rejected_preview": _markdown(["file", "line", "reason"], reject_rows),
        }


# -- sources ---------------------------------------------------------------------------------------------


def _hidden(name: str) -> bool:
    return name.startswith(".")


def incoming_files(folder: Path) -> list[Path]:
    """The files of the incoming folder that the `prompts` asset ingests, exactly as it lists them
    (sub-folders included; hidden names, ``__pycache__`` and documentation files left out), so the sensor
    that watches the folder and the asset that reads it see the same files. ``[]`` when it is not a
    folder."""
    folder = Path(folder)
    return _source_files(folder) if folder.is_dir() else []


def _source_files(path: Path) -> list[Path]:
    """The files of one configured source: the file itself, or every file under the folder, sorted.

    A folder is walked recursively, skipping hidden names, ``__pycache__`` and documentation files.
    """
    if not path.exists():
        raise PromptSourceError(path, "prompt source does not exist")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise PromptSourceError(path, "prompt source is neither a file nor a folder")
    try:
        os.listdir(path)
    except OSError as exc:
        raise PromptSourceError(path, f"prompt folder cannot be read ({exc.strerror or exc})") from exc
    found: list[Path] = []
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not _hidden(d) and d != "__pycache__"]
        found.extend(Path(root) / n for n in names if not _hidden(n) and _DOC_FILE.fullmatch(n) is None)
    return sorted(found, key=lambda p: p.relative_to(path).parts)


def ingest_prompt_sources(
    sources: list[tuple[Path, str, int | None]], *, max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS
) -> IngestResult:
    """Read every source (file or folder, format, limit) into one de-duplicated prompt table.

    ``limit`` caps the distinct prompts taken from that source (in file order). A prompt already taken
    from an earlier source or file is merged: the first occurrence is kept. A prompt longer than
    ``max_prompt_chars`` (turns and reference answers together; the config key of the same name) is
    rejected. Raises PromptSourceError for a missing/unreadable source, a bad ``max_prompt_chars`` or when
    the run yields no prompt at all.
    """
    if not sources:
        raise PromptSourceError("prompt_sources", "no prompt sources configured")
    check_max_prompt_chars(max_prompt_chars)
    rows: list[dict] = []
    seen: set[str] = set()
    rejected: list[Rejected] = []
    files: list[str] = []
    duplicates = 0
    for source in sources:
        path, fmt, limit = source
        path = Path(path)
        check_format(path, fmt)
        if limit is not None and limit <= 0:
            raise PromptSourceError(path, f"limit must be positive, got {limit}")
        taken: set[str] = set()
        for file in _source_files(path):
            if limit is not None and len(taken) >= limit:
                break
            files.append(display_path(file))
            try:
                records, bad = read_prompt_file(file, fmt, max_prompt_chars=max_prompt_chars)
            except PromptSourceError as exc:
                if file == path:
                    raise
                rejected.append(Rejected(display_path(file), 0, str(exc), ""))
                continue
            rejected.extend(bad)
            for rec in records:
                if limit is not None and len(taken) >= limit:
                    break
                pid = rec["prompt_id"]
                if pid in taken or pid in seen:
                    duplicates += 1
                    taken.add(pid)
                    continue
                taken.add(pid)
                seen.add(pid)
                rows.append(rec)
    if not rows:
        where = ", ".join(str(s[0]) for s in sources)
        detail = "; ".join(f"{Path(r.source_file).name}:{r.line} {r.reason}" for r in rejected[:3])
        more = f" ({len(rejected)} input(s) rejected, e.g. {detail})" if rejected else ""
        raise PromptSourceError(where, f"no prompts found in {len(files)} file(s){more}")
    frame = pd.DataFrame(rows, columns=PROMPT_COLUMNS).astype({"n_turns": "int64"})
    return IngestResult(prompts=frame, rejected=rejected, files=files, duplicates=duplicates)


# -- small helpers ---------------------------------------------------------------------------------------


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _markdown(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
