"""Which answer pairs a pairwise judge compares.

Three fixed designs, each returning rows ``prompt_id, model_a, model_b`` in a deterministic order (the
fourth, ``adaptive``, picks pairs in rounds from the verdicts so far: judging/adaptive.py):

- ``all``: every unordered pair of models per prompt; quadratic in the number of models.
- ``baseline``: every model against one baseline model (FastChat's pairwise-baseline mode); n - 1 per
  prompt.
- ``llmfao``: LLMFAO's sparse design. Per prompt, every model is linked to the ``k`` models whose
  answers are farthest from its own (Levenshtein distance of the stripped, lower-cased texts), so at
  most k * n pairs per prompt; then one seeded coin flip per pair, over all prompts in order, decides
  which side is model_a. On LLMFAO's own results file, with k=3 and seed=0, this reproduces its
  published pair list (pairs.jsonl, whose row numbers are the ids of its comparison files) row for row,
  order and orientation included.

Pair order inside a prompt is the published one: networkx's ``Graph.edges`` order (models in row order,
each model's neighbours in the order they were linked, each edge once from its earlier-listed end), then
regrouped, stably, by the second model's first appearance. The regrouping is what LLMFAO's two inner
merges did under the pandas of its time (before 2.2 an inner merge grouped rows by join key rather than
keeping the left order); the published order is not reproduced without it.

LLMFAO asserts that each prompt's graph is connected (a ranking needs every model linked to the rest).
Rather than fail, we join a disconnected prompt graph, and only then: every component other than the one
holding the prompt's first model is linked to that first component by its most distant cross pair (ties
go to the earlier model of the first component, then to the earlier model of the other; "earlier" is row
order). A connected graph is left untouched, so the upstream case is reproduced exactly.
"""

from __future__ import annotations

import itertools
import numbers
import random

import pandas as pd
from rapidfuzz.distance import Levenshtein

METHODS = ("all", "baseline", "llmfao")
PAIR_COLUMNS = ["prompt_id", "model_a", "model_b"]


def select_pairs(answers: pd.DataFrame, method: str = "llmfao", k: int = 3, seed: int = 0,
                 baseline: str | None = None) -> pd.DataFrame:
    """Pairs of models to compare per prompt, as ``prompt_id, model_a, model_b`` (strings).

    ``answers`` has one row per (prompt, model) answer: ``prompt_id`` (or ``question_id``), ``model``
    and, for ``llmfao``, ``text``. Prompts keep their order of first appearance; for ``llmfao`` the row
    order inside a prompt matters too, as it breaks distance ties. ``k`` and ``seed`` apply to ``llmfao``
    only, ``baseline`` to ``baseline`` only. A model answering the same prompt twice is an error: LLMFAO
    would sum both answers' distances and list the pair once per answer, meaningless for model pairs.
    """
    if method == "adaptive":
        raise ValueError("method 'adaptive' picks pairs while judging, from the verdicts so far: use "
                         "llmfeedback_assets.judging.adaptive.next_round (or run_adaptive) with all pairs as "
                         "candidates")
    if method not in METHODS:
        raise ValueError(f"unknown pair selection method {method!r}; valid methods: {', '.join(METHODS)}")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    groups = _group_answers(answers, need_text=method == "llmfao")
    if method == "all":
        rows = [(pid, a, b) for pid, models in groups.items()
                for a, b in itertools.combinations(sorted(models), 2)]
    elif method == "baseline":
        rows = _baseline_pairs(groups, baseline)
    else:
        rng = random.Random(seed)
        rows = []
        for pid, texts in groups.items():
            for a, b in _llmfao_edges(texts, int(k)):
                # one draw per pair, in output order, exactly as LLMFAO flips its pairs.jsonl rows
                rows.append((pid, b, a) if rng.choice([True, False]) else (pid, a, b))
    return pd.DataFrame(rows, columns=PAIR_COLUMNS, dtype=object)


def _group_answers(answers: pd.DataFrame, need_text: bool) -> dict[str, dict[str, str | None]]:
    """{prompt_id: {model: text}} with prompts and models in row order; rejects gaps and repeats."""
    if not isinstance(answers, pd.DataFrame):
        raise TypeError(f"answers must be a pandas DataFrame, got {type(answers).__name__}")
    pid_col = "prompt_id" if "prompt_id" in answers.columns else "question_id"
    wanted = [pid_col, "model"] + (["text"] if need_text else [])
    missing = [c for c in wanted if c not in answers.columns]
    if missing:
        names = ["prompt_id (or question_id)" if c == pid_col else c for c in missing]
        raise ValueError(f"answers: missing column(s) {', '.join(names)}; have {list(answers.columns)}")
    columns = [answers[c].tolist() for c in wanted]
    groups: dict[str, dict[str, str | None]] = {}
    first_row: dict[tuple[str, str], int] = {}
    for line, values in enumerate(zip(*columns, strict=True), start=1):
        for field, value in zip(wanted, values, strict=True):
            if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
                raise ValueError(f"answers row {line}: field {field!r} is missing")
        pid, model = _as_id(values[0]), _as_id(values[1])
        text = values[2] if need_text else None
        if need_text and not isinstance(text, str):
            raise ValueError(f"answers row {line}: field 'text' must be a string, got {type(text).__name__}")
        key = (pid, model)
        if key in first_row:
            raise ValueError(f"answers row {line}: field 'model': model {model!r} already answered prompt "
                             f"{pid!r} at row {first_row[key]}; give one answer per (prompt, model)")
        first_row[key] = line
        groups.setdefault(pid, {})[model] = text
    return groups


def _as_id(value: object) -> str:
    """Ids as strings; whole floats (ints that pandas widened because of a gap) lose their ".0"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _baseline_pairs(groups: dict[str, dict[str, str | None]],
                    baseline: str | None) -> list[tuple[str, str, str]]:
    if baseline is None:
        raise ValueError("method 'baseline' needs a baseline model (baseline=None)")
    base = _as_id(baseline)
    rows = [(pid, m, base) for pid, models in groups.items() if base in models for m in models if m != base]
    if not any(base in models for models in groups.values()):
        raise ValueError(f"baseline model {base!r} answered no prompt")
    return rows


def _llmfao_edges(texts: dict[str, str | None], k: int) -> list[tuple[str, str]]:
    """One prompt's pairs: each model linked to its k most distant models, listed in networkx edge order."""
    models = list(texts)
    clean = {m: str(texts[m]).strip().lower() for m in models}
    dist: dict[str, dict[str, int]] = {m: {} for m in models}
    for a, b in itertools.combinations(models, 2):
        dist[a][b] = dist[b][a] = Levenshtein.distance(clean[a], clean[b])
    # Insertion-ordered adjacency, as networkx keeps it: nodes in row order, neighbours as first linked.
    adj: dict[str, dict[str, None]] = {m: {} for m in models}

    def link(a: str, b: str) -> None:
        adj[a].setdefault(b, None)
        adj[b].setdefault(a, None)

    for a in models:
        # others in row order; a stable sort by falling distance breaks ties as Counter.most_common does
        for b in sorted((b for b in models if b != a), key=lambda b: dist[a][b], reverse=True)[:k]:
            link(a, b)
    components = _components(adj)
    for other in components[1:]:
        # max keeps the first of equal pairs: earliest model of the first component, then of the other
        a, b = max(((a, b) for a in components[0] for b in other), key=lambda ab: dist[ab[0]][ab[1]])
        link(a, b)
    # networkx's Graph.edges: nodes in order, each undirected edge once, from the endpoint listed first
    edges, seen = [], set()
    for a, neighbours in adj.items():
        edges += [(a, b) for b in neighbours if b not in seen]
        seen.add(a)
    # LLMFAO's old-pandas merge on the first end kept this order (edges already come grouped by it); the
    # merge on the second end grouped them by that end's first appearance.
    first: dict[str, int] = {}
    for _, b in edges:
        first.setdefault(b, len(first))
    return sorted(edges, key=lambda ab: first[ab[1]])


def _components(adj: dict[str, dict[str, None]]) -> list[list[str]]:
    """Connected components, each in row order, ordered by their earliest node."""
    label: dict[str, int] = {}
    count = 0
    for start in adj:
        if start in label:
            continue
        label[start], stack = count, [start]
        count += 1
        while stack:
            for nxt in adj[stack.pop()]:
                if nxt not in label:
                    label[nxt] = label[start]
                    stack.append(nxt)
    out: list[list[str]] = [[] for _ in range(count)]
    for node in adj:
        out[label[node]].append(node)
    return out
