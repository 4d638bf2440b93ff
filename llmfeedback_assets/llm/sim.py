"""The offline simulator: deterministic, seeded models with ground truth.

A simulated responder answers a question by covering some of the question's "key points" (ten phrases
derived from the question's text); how many it covers follows its latent quality, so every answer has a
true score (the number of key points, 1..10) that anyone holding the question can recount. How much filler
it adds follows its verbosity, and every simulated model opens in its own recognisable voice.

Simulated judges read the SAME rendered prompts a real judge gets and must answer in the same format a
real judge would ("Rating: [[7]]", "[[A]]", JSON ...). Each task is recognised by a handler that its domain
package registers with `register` (judging, curation, reward and synth each call their
`sim_handlers.register()` from their `__init__`), so the simulator never needs to know their templates and
never imports them. Randomness is drawn from a generator seeded by the request key, so the same request
always gets the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..config import ModelSpec, SimJudgeSpec, SimResponderSpec
from ..ids import rng_for, seed_for

_ADJ = ("careful", "thermal", "modular", "causal", "lexical", "spectral", "robust", "marginal", "latent",
        "recursive", "ethical", "empirical", "orthogonal", "implicit", "adaptive", "discrete", "stable",
        "sparse", "narrative", "economic", "formal", "spatial", "temporal", "genetic", "historic",
        "linear", "convex", "cultural", "acoustic", "optical", "civic", "fiscal")
_NOUN = ("boundary", "invariant", "gradient", "ledger", "protocol", "hypothesis", "metaphor", "estimate",
         "constraint", "mechanism", "baseline", "tradeoff", "precedent", "symmetry", "threshold", "channel",
         "sequence", "framework", "argument", "example", "principle", "pattern", "interface", "variable",
         "scenario", "factor", "signal", "structure", "context", "method", "measure", "source")
_OPENERS = ("Certainly.", "Sure thing.", "Great question.", "Here is my answer.", "Let me explain.",
            "Happy to help.", "Good question.", "In short:", "Thanks for asking.", "Absolutely.",
            "Here's a concise take.", "Let's work through it.")
_FILLER = ("It is worth keeping the wider picture in mind here.",
           "Different readers may weigh these points differently.",
           "This is a common question and deserves a careful answer.",
           "Context matters a great deal for questions like this one.",
           "There are many ways to think about this topic.",
           "I hope this overview is useful to you.",
           "Some of these ideas overlap with one another.",
           "Each point could be expanded at much greater length.")

N_POINTS = 10


def key_points(question: str) -> list[str]:
    """Ten distinct phrases that a complete answer to `question` covers."""
    q = " ".join(question.split())
    out: list[str] = []
    i = 0
    while len(out) < N_POINTS:
        v = seed_for("point", q, str(i))
        phrase = f"the {_ADJ[v % len(_ADJ)]} {_NOUN[(v >> 8) % len(_NOUN)]}"
        if phrase not in out:
            out.append(phrase)
        i += 1
    return out


def opener_for(model: str) -> str:
    return _OPENERS[seed_for("opener", model) % len(_OPENERS)]


def true_score(question: str, answer: str) -> int:
    """The ground truth of one answer: how many key points it covers (floor 1)."""
    low = answer.lower()
    return max(1, sum(1 for p in key_points(question) if p in low))


def length_units(answer: str) -> float:
    """Answer length in units of ~40 words, used for verbosity bias."""
    return len(answer.split()) / 40.0


def write_answer(spec: ModelSpec, question: str, rng: np.random.Generator) -> str:
    gt = spec.sim or SimResponderSpec()
    points = key_points(question)
    k = int(np.clip(round(gt.quality * N_POINTS + rng.normal(0.0, 1.0)), 1, N_POINTS))
    covered = sorted(rng.choice(N_POINTS, size=k, replace=False).tolist())
    n_filler = int(rng.poisson(0.5 + 6.0 * gt.verbosity))
    body = "The key considerations are " + ", ".join(points[i] for i in covered) + "."
    filler = " ".join(_FILLER[int(j)] for j in rng.integers(0, len(_FILLER), size=n_filler))
    return f"{opener_for(spec.name)} {body} {filler}".strip()


def authored_by(answer: str, model: str) -> bool:
    return answer.lstrip().startswith(opener_for(model))


@dataclass
class SimContext:
    """What a handler may use: the model answering, its judge biases and a request-seeded generator."""

    spec: ModelSpec
    rng: np.random.Generator
    judge: SimJudgeSpec = field(default_factory=SimJudgeSpec)

    def perceive(self, question: str, answer: str) -> float:
        """A judge's view of an answer's quality on the 1..10 scale, before noise."""
        j = self.judge
        score = float(true_score(question, answer))
        score += 3.0 * j.verbosity_bias * length_units(answer)
        if j.self_preference and authored_by(answer, self.spec.name):
            score += 3.0 * j.self_preference
        return score

    def noisy_grade(self, score: float) -> int:
        """Pass a grade through the judge's score transition matrix (or its neighbour-noise)."""
        s = int(np.clip(round(score), 1, 10))
        j = self.judge
        if j.transition_matrix is not None:
            return int(self.rng.choice(10, p=np.asarray(j.transition_matrix[s - 1])) + 1)
        if self.rng.random() < j.noise:
            s = int(np.clip(s + self.rng.choice([-1, 1]), 1, 10))
        return s


Messages = list[tuple[str, str]]
Matcher = Callable[[Messages], bool]
Responder = Callable[[SimContext, Messages], str]


@dataclass
class _Handler:
    name: str
    matches: Matcher
    respond: Responder


_HANDLERS: list[_Handler] = []


def register(name: str, matches: Matcher, respond: Responder) -> None:
    """Teach the simulator one task (a prompt template it recognises and how to answer it).

    Idempotent: registering a name again replaces that handler in place."""
    for h in _HANDLERS:
        if h.name == name:
            h.matches, h.respond = matches, respond
            return
    _HANDLERS.append(_Handler(name, matches, respond))


def last_user_message(messages: Messages) -> str:
    for role, content in reversed(messages):
        if role == "user":
            return content
    return ""


def simulate(spec: ModelSpec, messages: Messages, request_key: str) -> str:
    """Answer a request as the simulated model `spec`: a registered task, or else a plain answer."""
    ctx = SimContext(spec=spec, rng=rng_for("sim", spec.name, request_key),
                     judge=spec.sim_judge or SimJudgeSpec())
    for h in _HANDLERS:
        if h.matches(messages):
            return h.respond(ctx, messages)
    return write_answer(spec, last_user_message(messages), ctx.rng)
