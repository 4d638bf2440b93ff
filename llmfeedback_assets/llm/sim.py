"""The offline simulator: deterministic, seeded models with ground truth.

A simulated responder answers a question by covering some of the question's "key points" (ten phrases
derived from the question's text); how many it covers follows its latent quality, so every answer has a
true score (the number of key points, 1..10) that anyone holding the question can recount. How much filler
it adds follows its verbosity, and every simulated model opens in its own recognisable voice. Its wording
follows the true score, from vague and hedging to specific and structured, at equal length (see
`_REGISTERS`), so an answer's text carries its quality as in real data.

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

# Register: real good and bad answers differ in wording as well as content (a weak answer hedges and
# drifts, a strong one is specific and structured); DS2 curation needs embedding neighbours to share
# quality. Register tiers run from vague (0) to expert (4); filler sentence j has the same word count in
# every tier, so length still follows verbosity alone.
_REGISTERS = (
    ("Honestly I am not really sure what this is about.",
     "Anyway, my cousin once asked something similar.",
     "Maybe it depends, or maybe it does not matter much.",
     "I forget the details, so this could be wrong anyway.",
     "Whatever works for you is probably fine, I suppose.",
     "Sorry, I cannot really say much more here.",
     "Random thought: my tea went cold just now.",
     "Honestly, it is all rather hard to tell anyway."),
    ("This might be partly right, but I could be mistaken.",
     "Possibly some of this applies, possibly not.",
     "I think it probably depends on quite a few things.",
     "There may be other factors too, though I am unsure.",
     "It is possibly more complicated than this, who knows.",
     "Hopefully some of this is useful to you.",
     "I am not certain these points really apply.",
     "You may want to double check this somewhere else."),
    _FILLER,
    ("First, every point here follows from what was asked for.",
     "Second, these points fit together quite coherently.",
     "Each claim here is accurate and addresses what was asked.",
     "Together the points give a clear and full picture overall.",
     "The reasoning is sound and every step is justified.",
     "Overall, this answer covers all the key ground.",
     "Each point is stated clearly and supported well.",
     "It answers the question directly and with real detail."),
    ("Precisely: each part of the task is met, in order.",
     "Each step is verified against the specification.",
     "Each point is defined, justified and then checked for errors.",
     "Rigorous order: a definition, a proof, an example, a check.",
     "Every claim here is exact and fully sourced, too.",
     "In all, this is an exact, authoritative answer.",
     "Edge cases and odd inputs are handled too.",
     "Each next step is specific, actionable and fully measurable."),
)
# How the key points are introduced, by their number (1..10); four words each, from unsure to exact.
_LEADS = ("Not sure, maybe something", "Hard to say; perhaps", "It might involve roughly",
          "Possibly relevant here are", "Some relevant points are", "The main points are",
          "The answer clearly involves", "Specifically, the answer covers", "Precisely, it rests on",
          "Rigorously, it fully covers")

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


def register_tier(k: int, rng: np.random.Generator) -> int:
    """The register of one sentence of an answer covering k key points: k placed on the tier scale and
    rounded at random to a neighbouring tier, so the register grows smoothly with k."""
    pos = (k - 1) * (len(_REGISTERS) - 1) / (N_POINTS - 1)
    low = int(pos)
    return min(low + int(rng.random() < pos - low), len(_REGISTERS) - 1)


def write_answer(spec: ModelSpec, question: str, rng: np.random.Generator) -> str:
    """An answer covering k key points (k follows quality), in the register of k, padded by verbosity."""
    gt = spec.sim or SimResponderSpec()
    points = key_points(question)
    k = int(np.clip(round(gt.quality * N_POINTS + rng.normal(0.0, 1.0)), 1, N_POINTS))
    covered = sorted(rng.choice(N_POINTS, size=k, replace=False).tolist())
    n_filler = int(rng.poisson(0.5 + 6.0 * gt.verbosity))
    slots = rng.integers(0, len(_FILLER), size=n_filler).tolist()
    body = f"{_LEADS[k - 1]} " + ", ".join(points[i] for i in covered) + "."
    filler = " ".join(_REGISTERS[register_tier(k, rng)][j] for j in slots)
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
