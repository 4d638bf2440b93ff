"""How the offline simulator plays the synth roles: persona generator, user simulator, conversation judge.

(The eval models need nothing here: the simulator's default answer already answers the last user message.)

- Persona generator: a JSON persona built from seeded word lists and the theme in the prompt. A weaker
  generator (latent `quality`) more often returns broken JSON, with chance (1 - quality)^2, so retries and
  rejections are exercised; quality 0 never returns a valid object.
- User simulator: reads its persona from the system message and always mentions one of the persona's
  interests, so persona conditioning is checkable. Openings are too short with chance (1 - quality)^3
  (quality 0: always), which exercises the regeneration of short openings. A follow-up picks up a phrase
  from the reply it reacts to.
- Conversation judge: perceives both replies' quality through its biases (`ctx.perceive`) and answers with
  the 5-point marker, so better models win.
All randomness comes from the request-seeded generator: the same request always gets the same answer.
"""

from __future__ import annotations

import json
import re

from ..config import SimResponderSpec
from ..judging.templates import read_block
from ..llm import sim
from . import templates

_ROLES = ("nurse", "bus driver", "history teacher", "software tester", "baker", "electrician", "librarian",
          "pharmacist", "farmer", "graphic designer", "accountant", "carpenter", "paramedic", "translator",
          "museum guide", "shop owner", "student", "retired engineer", "social worker", "chef")
_PLACES = ("Lisbon", "Leeds", "Osaka", "Toronto", "Nairobi", "Porto Alegre", "Krakow", "Adelaide", "Austin",
           "Lyon", "Pune", "Glasgow", "Tallinn", "Cape Town", "Bergen", "Valparaiso")
_INTERESTS = ("home composting", "budget travel", "sourdough baking", "learning Spanish", "marathon training",
              "personal finance", "birdwatching", "woodworking", "retro video games", "urban gardening",
              "chess openings", "public transport policy", "astronomy", "knitting", "local history",
              "jazz guitar", "meal planning", "photography", "electric cars", "board game design")
_STYLES = ("short, direct messages without greetings", "chatty and warm, with the odd exclamation mark",
           "formal and precise, full sentences", "lowercase, quick, a few typos",
           "curious and detailed, asks several things at once", "sceptical, wants evidence")
_GENERIC_TOPICS = ("saving money on groceries", "sleeping better", "writing a polite complaint email",
                   "planning a weekend trip", "fixing a slow laptop")
_SHORT = ("Hi", "hello?", "hey there", "Question.", "hi!!")
_OPENINGS = ("I've been getting into {i} lately. What should a beginner understand first about it?",
             "Quick question about {i}: what mistakes do people most often make at the start?",
             "Could you help me plan how to get better at {i} over the next month?",
             "I keep reading conflicting advice on {i}. What actually matters most, and why?")
_FOLLOW_UPS = ("You mentioned {p}. How does that play out for {i}?",
               "Can you go deeper on {p}, with an example from {i}?",
               "I'm not sure I follow {p}. Could you put it in plainer words, thinking of {i}?",
               "Thanks. Which matters more for {i}: {p} or the rest of what you listed?")
_PHRASE = re.compile(r"\bthe [a-z]+ [a-z]+\b")


def _system(messages) -> str:
    return "\n".join(c for r, c in messages if r == "system")


def _quality(ctx: sim.SimContext) -> float:
    return (ctx.spec.sim or SimResponderSpec()).quality


def _pick(ctx: sim.SimContext, seq):
    return seq[int(ctx.rng.integers(len(seq)))]


# -- persona generator --------------------------------------------------------------------------------
def _is_persona(messages) -> bool:
    return templates.PERSONA_MARK in _system(messages)


def _persona(ctx: sim.SimContext, messages) -> str:
    text = sim.last_user_message(messages)
    found = re.search(r"centres on (.+?)\.", text)
    theme = found.group(1) if found else "everyday life"
    age = int(ctx.rng.integers(19, 80))
    interests = [str(x) for x in ctx.rng.choice(_INTERESTS, size=int(ctx.rng.integers(2, 5)), replace=False)]
    obj = {"persona": f"A {age}-year-old {_pick(ctx, _ROLES)} from {_pick(ctx, _PLACES)} whose days revolve "
                      f"around {theme}.",
           "interests": interests, "style": _pick(ctx, _STYLES)}
    reply = json.dumps(obj)
    if ctx.rng.random() < (1.0 - _quality(ctx)) ** 2:
        broken = (reply[: len(reply) // 2],  # cut off mid-object
                  "Here is a persona: " + reply.replace('"', "'"),  # single quotes are not JSON
                  json.dumps({"name": obj["persona"], "hobbies": interests}))  # the wrong keys
        return _pick(ctx, broken)
    return reply


# -- user simulator -----------------------------------------------------------------------------------
def _is_user(messages) -> bool:
    return templates.USER_MARK in _system(messages)


def _interests(messages) -> list[str]:
    for line in _system(messages).splitlines():
        if line.startswith(templates.INTERESTS_LABEL):
            return [x.strip() for x in line[len(templates.INTERESTS_LABEL):].split(";") if x.strip()]
    return []


def _user(ctx: sim.SimContext, messages) -> str:
    interest = _pick(ctx, _interests(messages) or list(_GENERIC_TOPICS))
    last = sim.last_user_message(messages)
    if templates.KICKOFF in last:
        if ctx.rng.random() < (1.0 - _quality(ctx)) ** 3:
            return _pick(ctx, _SHORT)
        return _pick(ctx, _OPENINGS).format(i=interest)
    reply = read_block(last, "ASSISTANT REPLY") or last
    phrases = _PHRASE.findall(reply.lower()) or ["your last point"]
    return _pick(ctx, _FOLLOW_UPS).format(p=_pick(ctx, phrases), i=interest)


# -- conversation judge -------------------------------------------------------------------------------
def _is_judge(messages) -> bool:
    return templates.JUDGE_MARK in _system(messages)


def _judge(ctx: sim.SimContext, messages) -> str:
    text = sim.last_user_message(messages)
    question = read_block(text, "LATEST USER MESSAGE") or ""
    r1 = read_block(text, "REPLY 1") or ""
    r2 = read_block(text, "REPLY 2") or ""
    j = ctx.judge
    diff = ctx.perceive(question, r1) - ctx.perceive(question, r2) + 3.0 * j.position_bias
    diff += ctx.rng.normal(0.0, 3.0 * j.noise)
    pref = 1 if diff >= 3 else 2 if diff >= 0.75 else 3 if diff > -0.75 else 4 if diff > -3 else 5
    verdict = {1: "reply 1 is clearly stronger", 2: "reply 1 is a little stronger", 3: "they are about even",
               4: "reply 2 is a little stronger", 5: "reply 2 is clearly stronger"}[pref]
    return (f"Reply 1 covers {sim.true_score(question, r1)} of the points I would expect and reply 2 covers "
            f"{sim.true_score(question, r2)}; {verdict}.\nPreference: [[{pref}]]")


def register() -> None:
    """Teach the simulator the synth roles' templates (called once by `synth/__init__.py`; idempotent)."""
    sim.register("synth.persona", _is_persona, _persona)
    sim.register("synth.user", _is_user, _user)
    sim.register("synth.judge", _is_judge, _judge)
