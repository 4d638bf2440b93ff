"""Parsers for judge replies.

A reply can hold several markers: the judge's own grade, but also markers it quotes from an answer, echoes
from the instructions or uses as an example. The reply is read in this order (ratings and verdicts alike):

1. Hidden markers: inside quotation marks ("...", “...”, ‘...’, '...' used as a quote, `code`, fenced code,
   ``>`` block quotes), inside an echoed answer block (<<ANSWER A>>...<</ANSWER A>>, [The Start of
   Assistant A's Answer]...[The End of ...]), inside a parenthesised format reminder or example, in a list
   of alternatives ("[[A]], [[B]] or [[C]]", "[[9]] or [[10]]") or right after "e.g."/"for example". Such a
   marker is the judge citing something, not deciding. A quote that holds nothing but a marker and follows
   "Rating:" or "verdict:" (or stands alone on its line) is the judge's own marker, not a citation.
2. Decisive markers, strongest first: a marker on a verdict line of its own ("[[A]]", "Rating: [[7]]",
   "**Final verdict:** [[B]]"), then a marker that a rating/verdict phrase introduces within a sentence
   ("My final verdict is [[A]] because ...", "earning a rating of [[9]]").
3. The FIRST visible marker of the strongest kind present wins. Judges grade first and then sometimes muse
   about what a better answer would earn ("could be further improved, earning a rating of [[10]]"); FastChat
   takes the first marker too. A later "Rating: [[5]]" given as an example or in quotes is hidden by step 1,
   and a verdict line outranks a phrase inside an answer quoted with stray quotation marks.
4. Otherwise FastChat's rules over the visible markers: ratings take the first [[x]], then the first [x]
   (decimals such as [[7.]] or [[7.5]] as FastChat's pattern allows); verdicts take A if [[A]] appears,
   else B if [[B]] appears, else C.
5. Hiding never makes a reply unparseable: when no marker is visible, steps 3-4 run over all markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RATING = re.compile(r"\[\[\s*(\d+\.?\d*)\s*\]\]")
RATING_BACKUP = re.compile(r"(?<![\w\[])\[(\d+\.?\d*)\](?!\])")  # FastChat's fallback; not array[0]
VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")

OK = "ok"
NO_VERDICT = "no_verdict"
OUT_OF_RANGE = "out_of_range"
CALL_FAILED = "call_failed"

_RATING_WORDS = r"rat(?:e|ed|es|ing)|scored?|scores|grade[ds]?|final"
_VERDICT_WORDS = r"verdict|decision|judge?ment|conclusion|winner|final"
# An introducing phrase, then at most a short run on the same line without a sentence end, bracket or quote.
_INTRO_TAIL = r"\b[^.!?;\n\[\]\"“”]{0,30}$"
_RATING_INTRO = re.compile(rf"(?i)\b(?:{_RATING_WORDS}){_INTRO_TAIL}")
_VERDICT_INTRO = re.compile(rf"(?i)\b(?:{_VERDICT_WORDS}){_INTRO_TAIL}")
_ANY_INTRO = re.compile(rf"(?i)\b(?:{_RATING_WORDS}|{_VERDICT_WORDS}){_INTRO_TAIL}")

_EXAMPLE = re.compile(r"(?i)\be\.\s?g\.|\bfor (?:example|instance)\b|\bsuch as\b|\bexample\s*:|\breminder\b"
                      r"|\bplaceholder\b|\blike this\b")
_SENTENCE_END = re.compile(r"[!?;]|\.\s")
_ANY_MARK = re.compile(r"\[\[[^\[\]\n]{1,20}\]\]")
_QUOTE_CHARS = "\"'“”‘’`*"
_LISTED = re.compile(
    rf"[{_QUOTE_CHARS}]*\[\[[^\[\]\n]{{1,20}}\]\][{_QUOTE_CHARS}]*"
    rf"(?:\s*(?:,\s*or|,\s*and|,|/|or|and)\s*[{_QUOTE_CHARS}]*\[\[[^\[\]\n]{{1,20}}\]\][{_QUOTE_CHARS}]*)+"
)
_PARENS = re.compile(r"\([^()\n]*\)")
# Echoed blocks: (opening tag naming the block, closing tag for that name). Our templates' <<ANSWER A>> blocks
# and FastChat's [The Start of Assistant A's Answer] ... [The End of Assistant A's Answer].
_BLOCK_TAGS = (
    (re.compile(r"<<\s*([A-Z][A-Z _0-9]*?)\s*>>"), r"<<\s*/\s*{name}\s*>>"),
    (re.compile(r"(?i)[\[<]\|?\s*The Start of ([^\]|>\n]{1,80}?)\s*\|?[\]>]"),
     r"(?i)[\[<]\|?\s*The End of {name}\s*\|?[\]>]"),
)
_BLOCK_NAMES = re.compile(r"(?i)answer|conversation|response|question|reference|assistant|turn")
_MAX_BLOCKS = 50
_NEAR = 80  # characters either side of a marker that decide how it is introduced
_CODE_AND_BLOCK_QUOTES = (re.compile(r"```.*?```", re.S), re.compile(r"^[ \t]*>[^\n]*", re.M))
_QUOTES = (  # bounded, so that a reply full of unmatched quotation marks still parses in linear time
    re.compile(r"\"[^\"\n]{0,1000}\""),
    re.compile(r"“(?:[^“”\n]|\n(?![ \t]*\n)){0,2000}”"),
    re.compile(r"(?<!\w)‘(?:[^‘’\n]|’(?=\w)){0,1000}’(?!\w)"),
    re.compile(r"(?<!\w)'(?:[^'\n]|'(?=\w)){0,1000}'(?!\w)"),
    re.compile(r"`[^`\n]{1,1000}`"),
)


@dataclass(frozen=True)
class _Mark:
    value: str
    hidden: bool
    rank: int  # 2 on a verdict line of its own, 1 introduced by a rating/verdict phrase, 0 otherwise


def _line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    line_end = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if line_end < 0 else line_end


def _own_quote(text: str, span: re.Match) -> bool:
    """A quote holding only a marker that follows 'Rating:'/'verdict:' or fills its line: the judge's own."""
    if not _ANY_MARK.fullmatch(span.group(0)[1:-1].strip()):
        return False
    line_start, line_end = _line_bounds(text, span.start(), span.end())
    before = text[max(line_start, span.start() - _NEAR):span.start()]
    after = text[span.end():min(line_end, span.end() + _NEAR)]
    alone = span.start() - line_start <= _NEAR and line_end - span.end() <= _NEAR
    return bool(_ANY_INTRO.search(before)) or (alone and not (before + after).strip(" \t*_#.:"))


def _hidden(text: str) -> bytearray:
    """1 for every character of the reply that the judge cites rather than says (see the module docstring)."""
    hidden = bytearray(len(text))

    def hide(start: int, end: int) -> None:
        hidden[start:end] = b"\x01" * (end - start)

    for opening, closing in _BLOCK_TAGS:
        pos = 0
        for _ in range(_MAX_BLOCKS):
            m = opening.search(text, pos)
            if m is None:
                break
            pos = m.end()
            end = re.compile(closing.format(name=re.escape(m.group(1)))).search(text, pos)
            if end is not None and _BLOCK_NAMES.search(m.group(1)):
                hide(m.start(), end.end())
                pos = end.end()
    for pattern in _CODE_AND_BLOCK_QUOTES:
        for m in pattern.finditer(text):
            hide(m.start(), m.end())
    for pattern in _QUOTES:
        for m in pattern.finditer(text):
            if not _own_quote(text, m):
                hide(m.start(), m.end())
    for m in _PARENS.finditer(text):
        if _EXAMPLE.search(m.group(0)) or len(_ANY_MARK.findall(m.group(0))) > 1:
            hide(m.start(), m.end())
    for m in _LISTED.finditer(text):
        if len({re.sub(r"\s", "", x) for x in _ANY_MARK.findall(m.group(0))}) > 1:
            hide(m.start(), m.end())
    return hidden


def _after_example(before: str) -> bool:
    """The marker follows 'e.g.', 'for example', ... within the same sentence, close by."""
    window = before[-40:]
    for m in _EXAMPLE.finditer(window):
        if not _SENTENCE_END.search(window[m.end():]):
            return True
    return False


def _rank(intro: re.Pattern, before: str, after: str) -> int:
    """2: the marker's line is just the marker, maybe after a short 'Rating:'/'Final verdict:' lead-in;
    1: a rating/verdict phrase introduces it inside a sentence; 0: neither."""
    introduced = bool(intro.search(before))
    lead = before.strip(" \t*_#>[(-")
    if not after.strip(" \t*_.)]") and (not lead or (introduced and len(lead) <= 40)):
        return 2
    return int(introduced)


def _marks(text: str, hidden: bytearray, pattern: re.Pattern, intro: re.Pattern) -> list[_Mark]:
    if not pattern.search(text):
        return []
    # Hidden text reads as an opaque bracket: it neither introduces a marker nor leaves its line empty.
    shown = "".join("[" if h and c != "\n" else c for c, h in zip(text, hidden, strict=True))
    out = []
    for m in pattern.finditer(text):
        line_start, line_end = _line_bounds(text, m.start(), m.end())
        # Only the nearby text on the marker's line matters; a long remainder simply rules out a verdict line.
        before = shown[max(line_start, m.start() - _NEAR):m.start()]
        after = text[m.end():min(line_end, m.end() + _NEAR)]
        if m.start() - line_start > _NEAR:
            before = "…" + before
        if line_end - m.end() > _NEAR:
            after += "…"
        out.append(_Mark(
            value=m.group(1),
            hidden=any(hidden[m.start():m.end()]) or _after_example(before),
            rank=_rank(intro, before, after),
        ))
    return out


def _first_decisive(pool: list[_Mark]) -> _Mark | None:
    """The first marker of the strongest decisive rank present in the pool, if any is decisive."""
    best = max(m.rank for m in pool)
    return next(m for m in pool if m.rank == best) if best else None


def _choose_rating(text: str) -> str | None:
    hidden = _hidden(text)
    primary = _marks(text, hidden, RATING, _RATING_INTRO)
    visible = [m for m in primary if not m.hidden]
    backup = [] if visible else _marks(text, hidden, RATING_BACKUP, _RATING_INTRO)
    visible = visible or [m for m in backup if not m.hidden]
    for pool in (visible, primary or backup):
        if pool:
            return (_first_decisive(pool) or pool[0]).value
    return None


def _choose_verdict(text: str) -> str | None:
    marks = _marks(text, _hidden(text), VERDICT, _VERDICT_INTRO)
    for pool in ([m for m in marks if not m.hidden], marks):
        if pool:
            decisive = _first_decisive(pool)
            if decisive is not None:
                return decisive.value
            present = {m.value for m in pool}
            return next(v for v in "ABC" if v in present)
    return None


def parse_rating(reply: str | None, low: float = 1, high: float = 10) -> tuple[float | None, str]:
    if reply is None:
        return None, CALL_FAILED
    found = _choose_rating(reply)
    if found is None:
        return None, NO_VERDICT
    value = float(found)
    if not low <= value <= high:
        return None, OUT_OF_RANGE
    return value, OK


def parse_verdict(reply: str | None) -> tuple[str | None, str]:
    """'A', 'B' or 'C' (tie)."""
    if reply is None:
        return None, CALL_FAILED
    found = _choose_verdict(reply)
    if found is None:
        return None, NO_VERDICT
    return found, OK


def combine_pairwise(verdict_ab: str | None, verdict_ba: str | None) -> str | None:
    """Winner over (model_a, model_b) from both orders. Position-inconsistent verdicts count as a tie.

    verdict_ab judged (A=model_a, B=model_b); verdict_ba judged (A=model_b, B=model_a).
    Returns 'model_a', 'model_b', 'tie', or None when either verdict is missing.
    """
    if verdict_ab is None or verdict_ba is None:
        return None
    first = {"A": "model_a", "B": "model_b", "C": "tie"}[verdict_ab]
    second = {"A": "model_b", "B": "model_a", "C": "tie"}[verdict_ba]
    return first if first == second else "tie"
