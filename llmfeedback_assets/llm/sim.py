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

# Register: real good and bad answers differ in wording as well as content (a weak answer hedges, drifts into
# anecdote or platitude; a strong one is structured, quantified, verified). DS2 curation needs embedding
# neighbours to share quality, so each number of key points k has its own register, distinct enough in meaning
# that a sentence encoder tells them apart: every answer carries CORE_SENTENCES of its register, and its
# verbosity filler is drawn from the same register. All register sentences are nine words long, so length
# still follows verbosity alone.
_REGISTERS = (
    # k=1: lost, off the point
    ("I honestly do not understand what you are asking.",
     "My phone keeps buzzing, so I cannot focus today.",
     "Whatever, this stuff never made much sense to me.",
     "I skipped that class years ago and regret nothing.",
     "Maybe ask somebody else, I am clueless about it.",
     "Sorry, I have no idea, really, none at all."),
    # k=2: anecdote instead of an answer
    ("My uncle once told me something similar at dinner.",
     "I remember a story about this from summer camp.",
     "A friend tried it once and it went badly.",
     "At school we used to joke about this thing.",
     "My neighbour has opinions on this, loud ones too.",
     "That reminds me of a funny video I watched."),
    # k=3: a guess, a gamble
    ("This is a coin flip, a pure guess really.",
     "I am betting on luck more than on knowledge.",
     "Roll the dice: maybe right, maybe wrong, who knows.",
     "My gamble is this, though the odds look poor.",
     "A lucky guess, a wild stab in the dark.",
     "I would not bet money on this guess, honestly."),
    # k=4: platitudes
    ("Everything depends on circumstances, as people so often say.",
     "There are always two sides to every story, right.",
     "It is important to keep an open mind here.",
     "Life is complicated and so is this topic, honestly.",
     "Balance is key, as with most things in life.",
     "Every situation is unique, so your results will vary."),
    # k=5: partial, a puzzle with gaps
    ("Like a jigsaw puzzle, several pieces are still missing.",
     "Half the puzzle is assembled; the other half isn't.",
     "Some pieces fit, but gaps remain in the picture.",
     "The puzzle is incomplete, with whole sections left blank.",
     "A partial picture: the edges done, the middle missing.",
     "Several puzzle pieces are lost, so coverage stays partial."),
    # k=6: a practical rule of thumb
    ("As a rule of thumb, this works well enough.",
     "Common sense says this is the practical everyday way.",
     "For everyday use, this handy rule of thumb suffices.",
     "Practically speaking, most people find this sensible and workable.",
     "It is a sensible, practical answer for ordinary situations.",
     "Rule of thumb: keep it simple and it works."),
    # k=7: organised, teacherly
    ("Let us go step by step, like a lesson.",
     "First understand the idea, then practise it on examples.",
     "A good teacher would frame it in this order.",
     "Students usually grasp this best with a worked example.",
     "Once the core concept clicks, the rest follows naturally.",
     "Review each step and the logic becomes quite clear."),
    # k=8: thorough with examples and trade-offs
    ("Consider a concrete example to see the trade-offs clearly.",
     "Each option has costs and benefits worth weighing carefully.",
     "In practice, teams compare the alternatives using measurable criteria.",
     "A worked scenario shows exactly where the approach fails.",
     "The details matter, so they are laid out fully.",
     "Pros and cons are listed with their practical consequences."),
    # k=9: expert, cites and quantifies
    ("Published benchmarks and standard references support each claim made.",
     "Quantitatively, the effect sizes reported are large and consistent.",
     "Specialists in the field would endorse this analysis fully.",
     "The literature converges on this conclusion across many studies.",
     "Precise definitions and known results anchor every single statement.",
     "Expert consensus, with citations, firmly backs the recommended approach."),
    # k=10: a formal, verified proof
    ("Formally, the theorem holds and the proof is complete.",
     "Each lemma is proved, and every invariant is verified.",
     "The formal proof checks all boundary cases without exception.",
     "Every step is a verified deduction from stated axioms.",
     "Invariants, lemmas and the theorem are machine-checked for correctness.",
     "The proof is rigorous, complete and formally verified throughout."),
)
CORE_SENTENCES = 6

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


# The answer length a judge takes as normal (about the default responders' mean): its verbosity bias rewards
# words beyond it and penalises a shorter answer, as a real judge's does. Were it paid on absolute length,
# a biased judge would grade every answer up by the same point or two, a shift no neighbour vote can undo.
EXPECTED_WORDS = 110


def length_units(answer: str) -> float:
    """How much longer than expected an answer is, in units of 40 words (negative when shorter); the
    verbosity bias works on it."""
    return (len(answer.split()) - EXPECTED_WORDS) / 40.0


def register_tier(k: int) -> int:
    """The register of an answer covering k key points."""
    return k - 1


def write_answer(spec: ModelSpec, question: str, rng: np.random.Generator) -> str:
    """An answer covering k key points (k follows quality) in the register of k: CORE_SENTENCES of it,
    then as many more as verbosity draws."""
    gt = spec.sim or SimResponderSpec()
    points = key_points(question)
    k = int(np.clip(round(gt.quality * N_POINTS + rng.normal(0.0, 1.0)), 1, N_POINTS))
    covered = sorted(rng.choice(N_POINTS, size=k, replace=False).tolist())
    tier = _REGISTERS[register_tier(k)]
    core = rng.choice(len(tier), size=CORE_SENTENCES, replace=False).tolist()
    filler = rng.integers(0, len(tier), size=int(rng.poisson(0.5 + 6.0 * gt.verbosity))).tolist()
    body = f"{_LEADS[k - 1]} " + ", ".join(points[i] for i in covered) + "."
    register = " ".join(tier[j] for j in core + filler)
    return f"{opener_for(spec.name)} {body} {register}"


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
