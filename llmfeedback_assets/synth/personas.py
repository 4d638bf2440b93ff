"""Personas: the configured ones plus those a persona model invents, deduplicated.

A generator reply that is not a valid persona object is asked again (a new sample of the same prompt) up
to `attempts` times, then recorded in `synth_rejected` with the reason; nothing a model returns can crash
the run. Two personas with the same description (case and spacing aside) are one: the configured one wins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from ..config import Config
from ..ids import rng_for, stable_id
from ..llm import ChatRequest, Gateway, RunStats, merge_stats
from ..warehouse import columns
from . import templates
from .common import persona_model

PERSONA_ATTEMPTS = 3
SAMPLE_STRIDE = 100  # sample = item * SAMPLE_STRIDE + attempt: attempts stay below the stride
PERSONA_TEMPERATURE = 1.0  # variety matters more than repeatability here; the journal makes reruns stable


def normalize(text: str) -> str:
    return " ".join(text.casefold().split())


def persona_id(persona: str) -> str:
    return stable_id("persona", normalize(persona))


@dataclass
class PersonaResult:
    personas: pd.DataFrame  # `personas` table rows
    rejected: pd.DataFrame  # `synth_rejected` rows
    stats: RunStats | None
    requested: int  # personas asked of the generator
    duplicates: int


def _row(persona: str, interests: list[str], style: str, source: str, model: str | None,
         key: str | None) -> dict:
    return {"persona_id": persona_id(persona), "persona": persona, "interests": list(interests),
            "style": style, "source": source, "generator_model": model, "request_key": key}


def _rejected(item: str, attempt: int, reason: str, raw: str | None, key: str | None) -> dict:
    return {"asset": "personas", "item": item, "attempt": attempt, "reason": reason, "raw": raw,
            "request_key": key, "rejected_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}


def build_personas(gateway: Gateway | None, config: Config,
                   attempts: int = PERSONA_ATTEMPTS) -> PersonaResult:
    """Configured personas, then `generate_num_personas` generated ones (in parallel, retried when invalid).

    With `use_personas: false` the table holds one generic persona, so every conversation still has a user.
    """
    if not 1 <= attempts < SAMPLE_STRIDE:
        raise ValueError(f"attempts must be in 1..{SAMPLE_STRIDE - 1}")
    synth = config.synth
    if not synth.use_personas:
        row = _row(templates.GENERIC_PERSONA, [], "", "default", None, None)
        return PersonaResult(_frame([row], "personas"), _frame([], "synth_rejected"), None, 0, 0)
    rows: list[dict] = [_row(" ".join(p.persona.split()), [" ".join(i.split()) for i in p.interests],
                             " ".join(p.style.split()), "configured", None, None) for p in synth.personas]
    rejected: list[dict] = []
    stats: RunStats | None = None
    n = synth.generate_num_personas
    if n and gateway is not None:
        model = persona_model(config)
        taken = [r["persona"] for r in rows]
        prompts = {i: render_persona_prompt(config, i, taken) for i in range(n)}
        pending = list(range(n))
        for attempt in range(attempts):
            if not pending:
                break
            # `sample` keeps two requests with the same theme (and each retry) distinct samples.
            reqs = [ChatRequest.of(model, prompts[i], temperature=PERSONA_TEMPERATURE,
                                   sample=i * SAMPLE_STRIDE + attempt, tag="synth.persona") for i in pending]
            results, st = gateway.run(reqs)
            stats = merge_stats(stats, st)
            still = []
            for i, res in zip(pending, results, strict=True):
                try:
                    obj = templates.parse_persona(res.text if res.ok else None)
                except templates.PersonaError as exc:
                    reason = str(exc) if res.ok else f"the call failed: {res.error}"
                    rejected.append(_rejected(f"generated persona {i}", attempt + 1, reason, res.text,
                                              res.request_key))
                    still.append(i)
                    continue
                rows.append(_row(obj["persona"], obj["interests"], obj["style"], "generated", model,
                                 res.request_key))
            pending = still
    unique, dupes = _dedupe(rows)
    for r in dupes:
        rejected.append(_rejected(f"{r['source']} persona", 0, f"duplicate of persona {r['persona_id']}",
                                  r["persona"], r["request_key"]))
    return PersonaResult(_frame(unique, "personas"), _frame(rejected, "synth_rejected"), stats, n, len(dupes))


def render_persona_prompt(config: Config, i: int, taken: list[str]) -> list[dict]:
    """The i-th generation prompt: a seeded theme gives each request (and each real sample) its own angle."""
    themes = templates.THEMES
    theme = themes[int(rng_for("persona-theme", config.synth.seed, i).integers(len(themes)))]
    return templates.render_persona_request(theme, taken)


def _dedupe(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    seen: set[str] = set()
    unique, dupes = [], []
    for r in rows:
        (dupes if r["persona_id"] in seen else unique).append(r)
        seen.add(r["persona_id"])
    return unique, dupes


def _frame(rows: list[dict], table: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns(table))


def persona_views(personas: pd.DataFrame) -> dict[str, templates.PersonaView | None]:
    """persona_id -> what the user simulator is told (None for the generic default persona)."""
    out: dict[str, templates.PersonaView | None] = {}
    for p in personas.itertuples(index=False):
        interests = tuple(str(i) for i in (p.interests if p.interests is not None else []))
        out[p.persona_id] = None if p.source == "default" else templates.PersonaView(p.persona, interests,
                                                                                     p.style or "")
    return out
