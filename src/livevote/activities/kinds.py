"""The six activity kinds: what a host may create, what an answer may hold, what it counts.

Pure functions, no I/O. An answer becomes a `Counted`: the fields stored on the response
document and the increments of the activity's flat counters (`tally.<key>`):

    kind       answer                 counters (`tally.` prefix)
    choice     {options: [i, ...]}    n, o<i> per chosen option
    quiz       {option: i}            n, o<i>          (+ points on the response, see score)
    rating     {value: v}             n, r<v>, sum
    ranking    {order: [i, ...]}      n, b<i> Borda points (first of k options: k-1, last: 0)
    wordcloud  {words: [w, ...]}      n, w<key> per distinct normalised word (key: its digest)
    open       {text}                 n                (texts are moderated, never counted)

Recount (recount.py) rebuilds the same counters from the stored responses with `counters_of`,
so both paths share one definition.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from livevote.errors import ValidationFailed

KINDS = ("choice", "wordcloud", "rating", "open", "ranking", "quiz")
WITH_OPTIONS = ("choice", "ranking", "quiz")
MAX_WORDS = 3
MAX_WORD_LENGTH = 40
MAX_TEXT = 280
QUIZ_BASE_POINTS = 500  # a correct answer, however late
QUIZ_SPEED_POINTS = 500  # on top, shrinking linearly to 0 at the time limit

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Counted:
    fields: dict[str, Any]
    inc: dict[str, int] = field(default_factory=dict)


def check_definition(
    kind: str,
    options: list[str],
    multiple: bool,
    scale: int | None,
    correct: int | None,
    time_limit_s: int | None,
) -> None:
    """422 for a definition that does not fit its kind (schemas.py bounds the values)."""
    if kind in WITH_OPTIONS:
        if len(options) < 2:
            raise ValidationFailed(f"a {kind} activity needs at least 2 options")
        if len({o.strip().casefold() for o in options}) != len(options):
            raise ValidationFailed("options must differ from each other")
    elif options:
        raise ValidationFailed(f"a {kind} activity takes no options")
    if multiple and kind != "choice":
        raise ValidationFailed("only a choice activity takes multiple answers")
    if scale is not None and kind != "rating":
        raise ValidationFailed("only a rating activity has a scale")
    if kind == "quiz":
        if correct is None or not 0 <= correct < len(options):
            raise ValidationFailed("a quiz needs `correct`: the index of the right option")
    elif correct is not None:
        raise ValidationFailed("only a quiz has a correct option")
    if time_limit_s is not None and kind != "quiz":
        raise ValidationFailed("only a quiz has a time limit")


def normalise_word(word: str) -> str:
    """The counting form of a word: accents folded, case folded, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", word)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare.casefold()).strip()


def word_key(normalised: str) -> str:
    """A field-name-safe key for a normalised word (no `.` or `$` can reach a field name)."""
    return "w" + hashlib.sha256(normalised.encode()).hexdigest()[:16]


def score(*, correct: bool, elapsed_ms: int, limit_ms: int) -> int:
    """Quiz points: 0 when wrong; else 500 plus up to 500 for speed, linear in the time left
    (integer arithmetic, rounded down). Answering at once gives 1000, at the limit 500."""
    if not correct:
        return 0
    left = max(0, min(limit_ms, limit_ms - elapsed_ms))
    return QUIZ_BASE_POINTS + (QUIZ_SPEED_POINTS * left) // limit_ms


def _index(value: int, count: int) -> int:
    if not 0 <= value < count:
        raise ValidationFailed(f"option {value} is out of range (0..{count - 1})")
    return value


def answer(activity: dict[str, Any], body: dict[str, Any]) -> Counted:
    """Check an answer against its activity (422) and return what to store and count."""
    kind = activity["kind"]
    given = {k for k, v in body.items() if v is not None}
    wanted = {
        "choice": "options",
        "quiz": "option",
        "rating": "value",
        "ranking": "order",
        "wordcloud": "words",
        "open": "text",
    }[kind]
    if given != {wanted}:
        raise ValidationFailed(f"a {kind} answer is {{{wanted}}} and nothing else")
    options: list[str] = activity.get("options") or []
    value = body[wanted]
    if kind == "choice":
        chosen = sorted({_index(i, len(options)) for i in value})
        if not chosen or len(chosen) != len(value):
            raise ValidationFailed("choose each option at most once, at least one")
        if len(chosen) > 1 and not activity.get("multiple"):
            raise ValidationFailed("this question takes one answer")
        return Counted({"options": chosen})
    if kind == "quiz":
        return Counted({"option": _index(value, len(options))})
    if kind == "rating":
        top = int(activity.get("scale") or 5)
        if not 1 <= value <= top:
            raise ValidationFailed(f"a rating is between 1 and {top}")
        return Counted({"value": value})
    if kind == "ranking":
        if sorted(value) != list(range(len(options))):
            raise ValidationFailed(f"order every option exactly once (0..{len(options) - 1})")
        return Counted({"order": list(value)})
    if kind == "wordcloud":
        return Counted({"words": _words(value)})
    text = value.strip()
    if not text:
        raise ValidationFailed("write something first")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"at most {MAX_TEXT} characters")
    return Counted({"text": text, "status": "pending"})


def _words(words: list[str]) -> list[str]:
    if not 1 <= len(words) <= MAX_WORDS:
        raise ValidationFailed(f"send 1 to {MAX_WORDS} words")
    seen: dict[str, str] = {}
    for raw in words:
        shown = _SPACES.sub(" ", raw).strip()
        if not shown or len(shown) > MAX_WORD_LENGTH:
            raise ValidationFailed(f"a word is 1 to {MAX_WORD_LENGTH} characters")
        seen.setdefault(normalise_word(shown), shown)
    return list(seen.values())


def counters_of(activity: dict[str, Any], response: dict[str, Any]) -> dict[str, int]:
    """The counter increments one stored response stands for (`tally.` keys)."""
    kind = activity["kind"]
    inc: dict[str, int] = {"n": 1}
    if kind == "choice":
        for i in response.get("options") or []:
            inc[f"o{i}"] = 1
    elif kind == "quiz":
        inc[f"o{int(response['option'])}"] = 1
    elif kind == "rating":
        inc[f"r{int(response['value'])}"] = 1
        inc["sum"] = int(response["value"])
    elif kind == "ranking":
        order = response.get("order") or []
        for place, i in enumerate(order):
            inc[f"b{i}"] = len(order) - 1 - place
    elif kind == "wordcloud":
        for w in response.get("words") or []:
            inc[word_key(normalise_word(w))] = 1
    return inc


def add(total: dict[str, int], inc: dict[str, int]) -> None:
    for key, value in inc.items():
        total[key] = total.get(key, 0) + value
