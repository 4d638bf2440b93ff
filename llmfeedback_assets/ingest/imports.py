"""A user's own answers, reference answers and judgments joined to the prompt table (no Dagster here).

Answers from FastChat, alpaca_eval, LLMFAO and sparse-feedback files become `responses` rows labelled with
their file (never sent to a provider); judgments become rows of an imported judge's `judgments` partition.
An answer or judgment is tied to a prompt by its text when the file carries the question (the prompt is
created from it), else by the prompt's own id in its source file (FastChat's question_id); one that matches
no prompt is rejected with its file and line, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..ids import stable_id
from .answers import read_answers
from .judgments import read_judgments
from .pipeline import IngestResult, ingest_prompt_sources
from .records import (
    PROMPT_COLUMNS,
    BadRecord,
    PromptSourceError,
    Rejected,
    category_field,
    display_path,
    prompt_row,
    prompt_size,
    size_reason,
    text_field,
)

RESPONSE_COLUMNS = ["response_id", "prompt_id", "responder_model", "turn", "sample", "text", "status",
                    "error", "request_key", "source", "source_line"]


def _reject(row, reason: str) -> Rejected:
    return Rejected(str(row.source_file), int(row.line), reason, "")


def _question_pid(question) -> str | None:
    """The prompt id the question text gets in the prompt table (same normalisation as every format)."""
    if question is None or (isinstance(question, float) and np.isnan(question)):
        return None
    return prompt_row("", "", "", [text_field(question, "question")], [])["prompt_id"]


# -- prompts created from answer files -------------------------------------------------------------------


def answer_prompts(sources: Iterable[tuple[str, str]], max_prompt_chars: int) -> tuple[pd.DataFrame,
                                                                                        list[Rejected]]:
    """Prompts for answers whose file carries the question (alpaca_eval, LLMFAO, sparse feedback); FastChat
    answers refer to questions that a prompt source must provide."""
    rows: dict[str, dict] = {}
    rejected: list[Rejected] = []
    for path, fmt in sources:
        answers = read_answers(path, fmt)
        for r in answers[answers["question"].notna() & (answers["turn"] == 1)].itertuples(index=False):
            try:
                row = prompt_row(display_path(r.source_file), str(r.question_id), category_field(r.category),
                                 [text_field(r.question, "question")], [])
            except BadRecord as exc:
                rejected.append(_reject(r, str(exc)))
                continue
            if prompt_size(row) > max_prompt_chars:
                rejected.append(_reject(r, size_reason(prompt_size(row), max_prompt_chars)))
                continue
            rows.setdefault(row["prompt_id"], row)
    return pd.DataFrame(list(rows.values()), columns=PROMPT_COLUMNS), rejected


@dataclass
class PromptIndex:
    """Finds the prompt an imported row belongs to: by prompt id, else by the id in its source file."""

    ids: set[str]
    by_source_id: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, prompts: pd.DataFrame) -> PromptIndex:
        by: dict[str, list[str]] = {}
        for pid, sid in zip(prompts["prompt_id"], prompts["source_id"], strict=True):
            if sid is not None:
                by.setdefault(str(sid), []).append(pid)
        return cls(set(prompts["prompt_id"]), by)

    def find(self, question_id, question=None) -> tuple[str | None, str | None]:
        """(prompt_id, None) or (None, why not)."""
        pid = _question_pid(question)
        if pid is not None:
            return (pid, None) if pid in self.ids else (None, "its question is not in the prompt table")
        qid = str(question_id)
        if qid in self.ids:
            return qid, None
        found = sorted(set(self.by_source_id.get(qid, [])))
        if len(found) == 1:
            return found[0], None
        if not found:
            return None, f"question_id {qid!r} matches no prompt (add the questions file to prompt_sources)"
        return None, f"question_id {qid!r} is ambiguous: {len(found)} prompts have that id in their files"


def attach_references(prompts: pd.DataFrame, paths: Iterable[str]) -> tuple[pd.DataFrame, list[Rejected]]:
    """Reference answers from FastChat reference_answer files (choice 0, every turn) set on the prompts they
    name; they replace a reference the question file carried, as FastChat judges with these."""
    prompts = prompts.copy()
    index = PromptIndex.of(prompts)
    position = {pid: i for i, pid in enumerate(prompts["prompt_id"])}
    rejected: list[Rejected] = []
    for path in paths:
        refs = read_answers(path, "fastchat")
        refs = refs[refs["choice"] == 0].sort_values(["question_id", "turn"], kind="stable")
        for qid, group in refs.groupby("question_id", sort=False):
            first = group.iloc[0]
            pid, why = index.find(qid)
            if pid is None:
                rejected.append(_reject(first, f"reference answer: {why}"))
                continue
            i = position[pid]
            n_turns = int(prompts.at[prompts.index[i], "n_turns"])
            prompts.at[prompts.index[i], "reference"] = [str(t) for t in group["text"]][:n_turns]
    return prompts, rejected


def build_prompt_table(prompt_sources: list[tuple], answer_sources: list[tuple[str, str]],
                       reference_paths: list[str], max_prompt_chars: int) -> IngestResult:
    """The prompt table of a run: the prompt sources, then the questions that answer files carry (a
    question already read from a prompt source merges), then the reference answers set on their prompts."""
    if prompt_sources:
        result = ingest_prompt_sources(prompt_sources, max_prompt_chars=max_prompt_chars)
    else:
        result = IngestResult(pd.DataFrame(columns=PROMPT_COLUMNS), [], [])
    created, bad = answer_prompts(answer_sources, max_prompt_chars)
    new = created[~created["prompt_id"].isin(result.prompts["prompt_id"])]
    result.duplicates += len(created) - len(new)
    frames = [f for f in (result.prompts, new) if len(f)]
    prompts = pd.concat(frames, ignore_index=True) if frames else result.prompts
    prompts, bad_refs = attach_references(prompts, reference_paths)
    result.prompts = prompts.astype({"n_turns": "int64"})
    result.rejected += bad + bad_refs
    result.files += [display_path(p) for p, _ in answer_sources] + [display_path(p) for p in reference_paths]
    if result.prompts.empty:
        raise PromptSourceError("answer_sources", "no prompts: the answer files carry no questions and no "
                                                  "prompt source is configured")
    return result


# -- answers -----------------------------------------------------------------------------------------------


def import_answers(sources: Iterable[tuple[str, str]], prompts: pd.DataFrame,
                   generated_models: Iterable[str] = ()) -> tuple[pd.DataFrame, list[Rejected]]:
    """Every answer in the answer files as `responses` rows (status ok, request_key NULL, source = the
    file). A model name that a configured responder also uses is an error: the two would mix."""
    index = PromptIndex.of(prompts)
    n_turns = dict(zip(prompts["prompt_id"], prompts["n_turns"], strict=True))
    own = set(generated_models)
    rows, rejected = [], []
    seen: dict[str, str] = {}
    for path, fmt in sources:
        answers = read_answers(path, fmt)
        clash = sorted(own & set(answers["model"]))
        if clash:
            raise ValueError(f"{display_path(path)}: answer model(s) {clash} are also configured responders; "
                             f"rename one of them")
        for r in answers.itertuples(index=False):
            pid, why = index.find(r.question_id, r.question)
            if pid is None:
                rejected.append(_reject(r, why))
                continue
            if int(r.turn) > int(n_turns[pid]):
                rejected.append(_reject(r, f"turn {r.turn} but the prompt has {n_turns[pid]} turn(s)"))
                continue
            rid = stable_id(pid, r.model, int(r.turn), int(r.choice))
            where = f"{display_path(r.source_file)}:{int(r.line)}"
            if rid in seen:
                rejected.append(_reject(r, f"a second answer of {r.model} to this prompt, turn {r.turn}, "
                                           f"choice {r.choice} (first at {seen[rid]})"))
                continue
            seen[rid] = where
            rows.append({"response_id": rid, "prompt_id": pid, "responder_model": r.model,
                         "turn": int(r.turn), "sample": int(r.choice), "text": r.text, "status": "ok",
                         "error": None, "request_key": None, "source": display_path(r.source_file),
                         "source_line": int(r.line)})
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS), rejected


# -- judgments ---------------------------------------------------------------------------------------------


@dataclass
class ImportedJudgments:
    frame: pd.DataFrame  # rows in the `judgments` schema
    rejected: list[Rejected]
    read: int = 0
    outside_pairs: int = 0  # pairwise rows dropped because the configured pair selection did not choose them
    disagreements: dict[str, int] = field(default_factory=dict)  # ours vs the file's recorded verdicts


def import_judgments(sources: Iterable[tuple[str, str]], partition: str, prompts: pd.DataFrame,
                     responses: pd.DataFrame, columns: list[str], judged_choice: int = 0,
                     pairs: pd.DataFrame | None = None) -> ImportedJudgments:
    """The judgment files of one imported judge as rows of its partition. Answers are matched by model,
    prompt, turn and the judged choice (or by their text, for sparse-feedback files); with a pair selection,
    pairwise rows of unchosen pairs are left out and counted, so every judge ranks the same pairs."""
    index = PromptIndex.of(prompts)
    ok = responses[responses["status"] == "ok"]
    by_model = {(r.prompt_id, r.responder_model, int(r.turn)): r for r in
                ok[ok["sample"] == judged_choice].itertuples(index=False)}
    by_text = {(r.prompt_id, int(r.turn), r.text): r for r in ok.itertuples(index=False)}
    chosen = None
    if pairs is not None:
        chosen = {(str(p), frozenset((a, b)))
                  for p, a, b in pairs[["prompt_id", "model_a", "model_b"]].itertuples(index=False)}
    rows, rejected = [], []
    out = ImportedJudgments(pd.DataFrame(columns=columns), rejected)
    disagree = {"single": 0, "pairwise": 0}
    for path, fmt in sources:
        frame = read_judgments(path, fmt)
        out.read += len(frame)
        for r in frame.itertuples(index=False):
            pid, why = index.find(r.question_id)
            if pid is None:
                rejected.append(_reject(r, why))
                continue
            turn = int(r.turn)
            sides, why = _answers_of(r, pid, turn, by_model, by_text)
            if why:
                rejected.append(_reject(r, why))
                continue
            ra, rb = sides
            pair = (pid, frozenset((ra.responder_model, rb.responder_model))) if rb is not None else None
            if pair is not None and chosen is not None and pair not in chosen:
                out.outside_pairs += 1
                continue
            rows.append(_judgment_row(partition, r, pid, turn, ra, rb))
            if _disagrees(r):
                disagree[r.mode] += 1
    out.frame = pd.DataFrame(rows, columns=columns)
    out.disagreements = disagree
    return out


def _answers_of(r, pid: str, turn: int, by_model: dict, by_text: dict):
    """The responses a judgment row is about: ((a, b-or-None), None) or (None, why not)."""
    names = [r.model] if r.mode == "single" else [r.model_a, r.model_b]
    texts = [r.text_a] if r.mode == "single" else [r.text_a, r.text_b]
    found = []
    for name, text in zip(names, texts, strict=True):
        if isinstance(text, str):
            hit = by_text.get((pid, turn, text)) or by_text.get((pid, turn, text.strip()))
            what = "the judged response text"
        else:
            hit = by_model.get((pid, name, turn))
            what = f"an answer of {name!r} to turn {turn}"
        if hit is None:
            return None, f"{what} is not among the responses of prompt {pid} (import its answers too)"
        found.append(hit)
    return (found[0], found[1] if len(found) > 1 else None), None


def _none(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def _judgment_row(partition: str, r, pid: str, turn: int, ra, rb) -> dict:
    where = f"{display_path(r.source_file)}:{int(r.line)}"
    single = r.mode == "single"
    score, winner = _none(r.score), _none(r.winner)
    parsed = score is not None if single else winner is not None
    prompt_name = _none(getattr(r, "prompt_name", None))
    return {
        "judgment_id": stable_id(partition, r.mode, pid, turn, ra.response_id, rb.response_id if rb else None,
                                 where),
        "judge_model": partition, "mode": r.mode, "prompt_id": pid, "turn": turn,
        "model_a": ra.responder_model, "model_b": None if single else rb.responder_model,
        "response_a_id": ra.response_id, "response_b_id": None if single else rb.response_id,
        "score": score, "winner": None if single else winner,
        "verdict_ab": None if single else _none(r.verdict_ab),
        "verdict_ba": None if single else _none(r.verdict_ba),
        "parse_status": "ok" if parsed else ("unparsed" if _none(r.raw) else "no verdict"),
        "reference_used": bool(prompt_name and "math" in prompt_name), "request_key": None,
        "request_key_swapped": None, "source": where, "prompt_name": prompt_name or "imported",
        "raw": _none(r.raw), "recorded_score": _none(r.recorded_score),
        "recorded_winner": None if single else _none(r.recorded_winner),
        "explanation": _none(r.explanation),
        "explanation_swapped": None if single else _none(r.explanation_swapped),
    }


def _disagrees(r) -> bool:
    """Our parse of the raw reply differs from what the file recorded (both absent is agreement)."""
    if r.mode == "single":
        ours, theirs = _none(r.score), _none(r.recorded_score)
    else:
        ours, theirs = _none(r.winner), _none(r.recorded_winner)
    return ours != theirs
