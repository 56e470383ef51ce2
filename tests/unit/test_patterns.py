"""Finding 6 of "Bounded under abuse": a pattern must match the whole string. msgspec applies
`pattern` with `re.search`, where `$` also matches before a final newline, so `"alice\\n"`
passed `^[A-Za-z0-9_.-]+$`. Every constrained string type in the API refuses a trailing
newline."""

from __future__ import annotations

import msgspec
import pytest

from livevote.events.schemas import JoinCode
from livevote.infra.validation import Email, Name, Text, Username
from livevote.polls.schemas import PollKey, Tag

CASES = [
    (JoinCode, "DEMO42"),
    (Tag, "music"),
    (PollKey, "0123456789abcdef01234567"),
    (Username, "alice"),
    (Email, "alice@example.org"),
    (Name, "Solar Sprout"),
    (Text, "A question"),
]


@pytest.mark.parametrize(("kind", "good"), CASES)
def test_a_trailing_newline_is_refused(kind: object, good: str) -> None:
    assert msgspec.convert(good, kind) == good
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(good + "\n", kind)
