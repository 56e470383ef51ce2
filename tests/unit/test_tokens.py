"""Minted credentials are unique: a random `jti` in every token, verification unchanged."""

from __future__ import annotations

import jwt

from livevote.config import JwtSettings
from livevote.infra.auth import ALGORITHM, TokenService


def test_two_attendee_mints_in_the_same_second_differ_and_both_verify() -> None:
    tokens = TokenService(JwtSettings())
    first = tokens.issue_attendee("attendee-1", "event-1")
    second = tokens.issue_attendee("attendee-1", "event-1")
    assert first != second
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in (first, second)]
    assert claims[0]["jti"] != claims[1]["jti"] and len(claims[0]["jti"]) >= 16
    # a fresh service (no cache of its own mints) verifies both the same way as before
    verifier = TokenService(JwtSettings())
    for token in (first, second):
        who = verifier.decode(token, "attendee")
        assert (who.subject, who.event_id) == ("attendee-1", "event-1")


def test_a_token_without_jti_still_verifies() -> None:
    """Tokens minted before this change (no jti) stay valid until they expire."""
    settings = JwtSettings()
    minted = TokenService(settings).issue_attendee("a", "e")
    claims = jwt.decode(
        minted, settings.secret, algorithms=[ALGORITHM], options={"verify_aud": False}
    )
    del claims["jti"]
    legacy = jwt.encode(claims, settings.secret, algorithm=ALGORITHM)
    assert TokenService(settings).decode(legacy, "attendee").subject == "a"


def test_user_tokens_carry_a_jti_too() -> None:
    tokens = TokenService(JwtSettings())
    assert tokens.issue_user("u") != tokens.issue_user("u")
