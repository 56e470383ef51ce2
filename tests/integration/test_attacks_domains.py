"""Attacks on the domain endpoints (events, votes, polls, elections, reports): forged and
misused credentials, NoSQL operator payloads, oversized and deeply nested bodies, spoofed
client addresses, tokens in URLs. Every attempt is a problem+json 4xx and nothing is stored
(documents counted in every collection before and after). The platform's own attacks (user
tokens on /api/users/me, operator payloads on register) are in platform/test_attacks.py; this
module reuses its forged-token generator against the domain endpoints.

Totals are written to test-artifacts/reliability/attacks.json for docs/RELIABILITY.md.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from livevote.config import DEFAULT_JWT_SECRET
from livevote.infra.auth import ATTENDEE_COOKIE
from tests.support.artifacts import save_json
from tests.support.http import http_client
from tests.support.servers import RunningServer
from tests.support.tokens import forged_tokens
from tests.support.users import register_user

COLLECTIONS = [
    "users", "events", "teams", "attendees", "event_votes", "polls", "poll_responses",
    "daily_votes", "elections", "election_reports", "election_totals", "election_audit",
    "election_slot_blocks",
]  # fmt: skip
TALLY = Counter[str]()  # kind -> attempts; every one of them was rejected


def _record(kind: str, n: int = 1) -> None:
    TALLY[kind] += n
    tried = {"tried": dict(TALLY), "total": sum(TALLY.values()), "accepted": 0}
    save_json("reliability", "attacks", tried)


# Tokens of the platform's generator that carry a valid signature made with the server's own
# secret and a well-formed subject that is merely unknown: user tokens are stateless (the
# account is not re-read on every request), so only whoever holds the secret could mint them.
SIGNED_WITH_THE_REAL_SECRET = {"sub-unknown-user", "sub-not-objectid"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _counts(db: Any) -> dict[str, int]:
    return {c: await db[c].count_documents({}) for c in COLLECTIONS}


def _assert_rejected(r: httpx.Response, what: Any, allowed: tuple[int, ...] = ()) -> None:
    ok = allowed or (400, 401, 403, 404, 409, 413, 415, 422)
    assert r.status_code in ok, (what, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json"), what


@pytest.fixture(scope="module")
def attack_server(make_server: Callable[..., RunningServer]) -> RunningServer:
    return make_server()


@pytest.fixture
async def world(attack_server: RunningServer) -> dict[str, Any]:
    """Two events (voting open on each), an attendee of each, a poll, an election."""
    async with http_client(attack_server.url) as c:
        host = await register_user(c)
        w: dict[str, Any] = {"host": host}
        for name in ("a", "b"):
            r = await c.post(
                "/api/events",
                json={"title": f"Event {name}", "teams": [{"name": "One"}, {"name": "Two"}]},
                headers=host["headers"],
            )
            assert r.status_code == 201, r.text
            ev = r.json()
            team = ev["teams"][0]["id"]
            for path, body in (("stage", {"team_id": team}), ("voting", {"open": True})):
                r = await c.put(
                    f"/api/events/{ev['id']}/{path}", json=body, headers=host["headers"]
                )
                assert r.status_code == 200, r.text
            r = await c.post("/api/events/join", json={"code": ev["code"]})
            assert r.status_code == 201
            c.cookies.clear()
            w[name] = {"event": ev, "team": team, "attendee": r.json()}
        r = await c.post(
            "/api/polls",
            json={"title": "Best colour?", "options": ["red", "blue"], "tags": ["t"]},
            headers=host["headers"],
        )
        assert r.status_code == 201
        w["poll"] = r.json()
        r = await c.post(
            "/api/elections",
            json={"name": "GE", "parties": ["red", "blue"],
                  "cities": [{"name": "york", "ballot_boxes": 5}]},
            headers=host["headers"],
        )  # fmt: skip
        assert r.status_code == 201, r.text
        w["election"] = r.json()
    return w


def attendee_forgeries(settings: Any, attendee_id: str, event_id: str) -> dict[str, str]:
    """Credentials that must never vote for `attendee_id` in `event_id`."""
    now = int(time.time())
    aud = settings.jwt.audience + ":attendee"
    good = {
        "sub": attendee_id,
        "evt": event_id,
        "iss": settings.jwt.issuer,
        "aud": aud,
        "iat": now,
        "exp": now + 600,
    }
    s = settings.jwt.secret
    signed = jwt.encode(good, s, algorithm="HS256")
    head, _payload, sig = signed.split(".")
    out = {
        "att-alg-none": ".".join(
            [
                _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                _b64(json.dumps(good).encode()),
                "",
            ]
        ),
        "att-wrong-key": jwt.encode(good, "k" * 48, algorithm="HS256"),
        "att-default-key": jwt.encode(good, DEFAULT_JWT_SECRET, algorithm="HS256")
        if s != DEFAULT_JWT_SECRET
        else jwt.encode(good, "d" * 48, algorithm="HS256"),
        "att-expired": jwt.encode({**good, "iat": now - 100, "exp": now - 1}, s, algorithm="HS256"),
        "att-not-yet": jwt.encode({**good, "nbf": now + 600}, s, algorithm="HS256"),
        "att-user-audience": jwt.encode(
            {**good, "aud": settings.jwt.audience}, s, algorithm="HS256"
        ),
        "att-no-evt": jwt.encode(
            {k: v for k, v in good.items() if k != "evt"}, s, algorithm="HS256"
        ),
        "att-evt-int": jwt.encode({**good, "evt": 5}, s, algorithm="HS256"),
        "att-evt-operator": jwt.encode({**good, "evt": {"$ne": ""}}, s, algorithm="HS256"),
        "att-sub-operator": jwt.encode({**good, "sub": {"$gt": ""}}, s, algorithm="HS256"),
        "att-wrong-issuer": jwt.encode({**good, "iss": "x"}, s, algorithm="HS256"),
        "att-hs512": jwt.encode(good, s + "x" * 40, algorithm="HS512"),
        "att-tampered-evt": head
        + "."
        + _b64(json.dumps({**good, "evt": "0" * 24}).encode())
        + "."
        + sig,
        "att-tampered-sub": head
        + "."
        + _b64(json.dumps({**good, "sub": "f" * 24}).encode())
        + "."
        + sig,
        "att-sig-stripped": f"{head}.{_payload}.",
        "att-garbage": "x.y.z",
        "att-huge": "a" * 8000,
    }
    return out


async def test_forged_and_misused_credentials(
    attack_server: RunningServer, world: dict[str, Any], server_db_attack: Any
) -> None:
    settings = attack_server.settings
    a, b = world["a"], world["b"]
    eid, team = a["event"]["id"], a["team"]
    before = await _counts(server_db_attack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        user_forged = forged_tokens(settings, world["host"]["id"])
        att_forged = attendee_forgeries(settings, a["attendee"]["attendee_id"], eid)
    tokens_tried = 0
    async with http_client(attack_server.url) as c:
        vote = {"team_id": team, "score": 3}
        # forged user tokens on every user-authenticated domain write
        user_writes = [
            ("POST", "/api/events", {"title": "Forged", "teams": [{"name": "x"}]}),
            ("POST", f"/api/events/{eid}/teams", {"name": "Forged team"}),
            ("PUT", f"/api/events/{eid}/voting", {"open": False}),
            ("POST", "/api/polls", {"title": "Forged?", "options": ["a", "b"]}),
            ("POST", f"/api/polls/{world['poll']['id']}/vote", {"optionIndex": 0}),
            ("POST", f"/api/polls/{world['poll']['id']}/skip", {}),
            ("POST", "/api/elections",
             {"name": "F", "parties": ["p"], "cities": [{"name": "c", "ballot_boxes": 1}]}),
        ]  # fmt: skip
        for name, token in user_forged.items():
            if name in SIGNED_WITH_THE_REAL_SECRET:
                continue
            tokens_tried += 1
            for method, path, body in user_writes:
                r = await c.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {token}"}
                )
                _assert_rejected(r, (name, path), (401,))
        # forged attendee credentials, in the header and in the cookie
        for name, token in {**att_forged, **user_forged}.items():
            tokens_tried += 1
            r = await c.post(
                f"/api/events/{eid}/votes", json=vote, headers={"Authorization": f"Bearer {token}"}
            )
            _assert_rejected(r, name, (401, 403))
            c.cookies.clear()
            r = await c.post(
                f"/api/events/{eid}/votes",
                json=vote,
                headers={"Cookie": f"{ATTENDEE_COOKIE}={token}"},
            )
            _assert_rejected(r, ("cookie", name), (401, 403))
        # real credentials used where they do not belong
        misuse = [
            ("attendee of another event", b["attendee"]["token"], f"/api/events/{eid}/votes",
             vote, (403,)),
            ("user token as attendee", world["host"]["token"], f"/api/events/{eid}/votes",
             vote, (401,)),
            ("attendee token as user: create event", a["attendee"]["token"], "/api/events",
             {"title": "x", "teams": []}, (401,)),
            ("attendee token as user: create poll", a["attendee"]["token"], "/api/polls",
             {"title": "x?", "options": ["a", "b"]}, (401,)),
            ("attendee token as user: poll vote", a["attendee"]["token"],
             f"/api/polls/{world['poll']['id']}/vote", {"optionIndex": 1}, (401,)),
            ("attendee token as host", a["attendee"]["token"], f"/api/events/{eid}/teams",
             {"name": "x"}, (401,)),
            ("attendee token as election creator", a["attendee"]["token"], "/api/elections",
             {"name": "x", "parties": ["p"], "cities": [{"name": "c", "ballot_boxes": 1}]},
             (401,)),
        ]  # fmt: skip
        for name, token, path, body, codes in misuse:
            tokens_tried += 1
            r = await c.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            _assert_rejected(r, name, codes)
        # cookie tampering: flip one character of the real attendee cookie's payload/signature
        real = a["attendee"]["token"]
        for i, part in enumerate(real.split(".")):
            for pos in (0, len(part) // 2, len(part) - 1):
                parts = real.split(".")
                flipped = "A" if part[pos] != "A" else "B"
                parts[i] = part[:pos] + flipped + part[pos + 1 :]
                tampered = ".".join(parts)
                if tampered == real:
                    continue
                tokens_tried += 1
                c.cookies.clear()
                r = await c.post(
                    f"/api/events/{eid}/votes",
                    json=vote,
                    headers={"Cookie": f"{ATTENDEE_COOKIE}={tampered}"},
                )
                # a flip in the last base64 character may only touch padding bits
                if r.status_code == 201:
                    assert i == 2 and pos == len(part) - 1, "tampered cookie accepted"
                    pytest.fail("a tampered signature was accepted")
                _assert_rejected(r, ("tampered", i, pos), (401,))
        # reporter keys: missing, wrong, another election's, in the URL
        report = {"report_id": "r1", "ballot_box_id": "b1", "city": "york",
                  "votes": {"red": 1}}  # fmt: skip
        rpath = f"/api/elections/{world['election']['id']}/reports"
        for name, headers, url in [
            ("no key", {}, rpath),
            ("wrong key", {"X-Reporter-Key": "x" * 40}, rpath),
            ("empty key", {"X-Reporter-Key": ""}, rpath),
            ("operator key", {"X-Reporter-Key": '{"$ne": ""}'}, rpath),
            ("user token as key", {"X-Reporter-Key": world["host"]["token"]}, rpath),
            ("key in URL", {}, f"{rpath}?reporter_key={world['election']['reporter_key']}"),
            ("key in URL 2", {}, f"{rpath}?key={world['election']['reporter_key']}"),
        ]:
            tokens_tried += 1
            r = await c.post(url, json=report, headers=headers)
            _assert_rejected(r, name, (401, 403))
    assert tokens_tried >= 50
    _record("forged or misused credentials", tokens_tried)
    assert await _counts(server_db_attack) == before


async def test_tokens_never_accepted_from_urls(
    attack_server: RunningServer, world: dict[str, Any], server_db_attack: Any
) -> None:
    a = world["a"]
    eid = a["event"]["id"]
    before = await _counts(server_db_attack)
    tried = 0
    async with http_client(attack_server.url) as c:
        for param in ("token", "access_token", "jwt", "auth", ATTENDEE_COOKIE, "authorization"):
            for path, body, token in [
                (f"/api/events/{eid}/votes", {"team_id": a["team"], "score": 2},
                 a["attendee"]["token"]),
                ("/api/polls", {"title": "url?", "options": ["a", "b"]}, world["host"]["token"]),
                (f"/api/polls/{world['poll']['id']}/vote", {"optionIndex": 0},
                 world["host"]["token"]),
            ]:  # fmt: skip
                tried += 1
                r = await c.post(f"{path}?{param}={token}", json=body)
                _assert_rejected(r, (param, path), (401,))
        tried += 1
        r = await c.get(f"/api/events/{eid}/me?token={a['attendee']['token']}")
        _assert_rejected(r, "me via URL", (401,))
    _record("tokens in URLs", tried)
    assert await _counts(server_db_attack) == before


OPERATORS: list[Any] = [
    {"$gt": ""},
    {"$ne": None},
    {"$regex": ".*"},
    {"$where": "sleep(100)"},
    {"$in": [1, 2]},
    {"$exists": True},
    ["$gt", 1],
    "$gt",
    "$where",
    "$function",
    {"$inc": {"x": 1}},
    {"a": {"$gt": 0}},
]


def _variants(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every top-level field (and every element of lists / value of dicts one level down)
    replaced by every operator value, plus `$`-keys and unknown operator fields."""
    out: list[tuple[str, Any]] = []
    for field, value in body.items():
        for op in OPERATORS:
            b = copy.deepcopy(body)
            b[field] = op
            out.append((f"{field}={op!r}", b))
        if isinstance(value, list) and value:
            for op in [*OPERATORS[:6], "$gt"]:
                b = copy.deepcopy(body)
                if isinstance(value[0], dict):
                    k = next(iter(value[0]))
                    b[field][0][k] = op
                else:
                    b[field][0] = op
                out.append((f"{field}[0]={op!r}", b))
        if isinstance(value, dict) and value:
            k = next(iter(value))
            for op in OPERATORS[:6]:
                b = copy.deepcopy(body)
                b[field][k] = op
                out.append((f"{field}.{k}={op!r}", b))
            for key in ("$gt", "$where", "$set", "a.$b", "$", "a.b"):
                b = copy.deepcopy(body)
                b[field] = {key: 1}
                out.append((f"{field} key {key}", b))
    for key in ("$set", "$where", "$inc", "_id", "__proto__", "admin"):
        b = copy.deepcopy(body)
        b[key] = {"x": 1} if key.startswith("$") else "x"
        out.append((f"extra {key}", b))
    return out


async def test_operator_payloads_on_every_body_endpoint(
    attack_server: RunningServer, world: dict[str, Any], server_db_attack: Any
) -> None:
    a = world["a"]
    eid = a["event"]["id"]
    host = world["host"]["headers"]
    att = {"Authorization": f"Bearer {a['attendee']['token']}"}
    poll = world["poll"]["id"]
    election = world["election"]
    endpoints: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("POST", "/api/events", host,
         {"title": "Injected", "teams": [{"name": "x"}], "max_score": 5, "results": "live"}),
        ("POST", f"/api/events/{eid}/teams", host, {"name": "Injected team"}),
        ("PUT", f"/api/events/{eid}/stage", host, {"team_id": a["team"]}),
        ("PUT", f"/api/events/{eid}/voting", host, {"open": True}),
        ("PUT", f"/api/events/{eid}/results", host, {"visible": True}),
        ("POST", "/api/events/join", {}, {"code": a["event"]["code"], "name": "n"}),
        ("POST", f"/api/events/{eid}/votes", att, {"team_id": a["team"], "score": 3}),
        ("POST", "/api/polls", host, {"title": "Injected?", "options": ["a", "b"], "tags": ["t"]}),
        ("POST", f"/api/polls/{poll}/vote", host,
         {"optionIndex": 0, "userId": world["host"]["id"]}),
        ("POST", f"/api/polls/{poll}/skip", host, {"userId": world["host"]["id"]}),
        ("POST", "/api/elections", host,
         {"name": "Injected", "parties": ["red"], "cities": [{"name": "york", "ballot_boxes": 2}]}),
        ("POST", f"/api/elections/{election['id']}/reports",
         {"X-Reporter-Key": election["reporter_key"]},
         {"report_id": "r9", "ballot_box_id": "b9", "city": "york", "votes": {"red": 3},
          "supersedes": "r8"}),
    ]  # fmt: skip
    before = await _counts(server_db_attack)
    tried = 0
    accepted: list[Any] = []
    async with http_client(attack_server.url) as c:
        for method, path, headers, body in endpoints:
            for name, bad in _variants(body):
                tried += 1
                r = await c.request(method, path, json=bad, headers=headers)
                c.cookies.clear()
                if r.status_code < 400:
                    accepted.append((path, name, r.status_code))
                    continue
                _assert_rejected(r, (path, name))
                assert r.status_code < 500
    assert not accepted, accepted
    assert tried >= 300
    _record("NoSQL operator payloads", tried)
    after = await _counts(server_db_attack)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}


async def test_oversized_and_deeply_nested_bodies(
    attack_server: RunningServer, world: dict[str, Any], server_db_attack: Any
) -> None:
    a = world["a"]
    eid = a["event"]["id"]
    host = world["host"]["headers"]
    election = world["election"]
    targets = [
        ("/api/events", host),
        (f"/api/events/{eid}/teams", host),
        ("/api/events/join", {}),
        (f"/api/events/{eid}/votes", {"Authorization": f"Bearer {a['attendee']['token']}"}),
        ("/api/polls", host),
        (f"/api/polls/{world['poll']['id']}/vote", host),
        ("/api/elections", host),
        (f"/api/elections/{election['id']}/reports", {"X-Reporter-Key": election["reporter_key"]}),
    ]
    before = await _counts(server_db_attack)
    tried = 0
    big_votes = {f"p{i}": 1 for i in range(5000)}
    async with http_client(attack_server.url) as c:
        for path, headers in targets:
            bodies: list[tuple[str, bytes]] = [
                ("2 MB string", json.dumps({"title": "x" * 2_000_000}).encode()),
                ("deep nesting", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
                ("deep arrays", b"[" * 100_000 + b"]" * 100_000),
                ("many keys", json.dumps({f"k{i}": i for i in range(20_000)}).encode()),
                ("huge votes map", json.dumps({"report_id": "r", "ballot_box_id": "b",
                                               "city": "york", "votes": big_votes}).encode()),
                ("huge number", b'{"score": 1' + b"0" * 5000 + b"}"),
                ("not json", b"\x00\x01\x02"),
                ("truncated", b'{"title": "'),
            ]  # fmt: skip
            for name, raw in bodies:
                tried += 1
                r = await c.post(
                    path, content=raw, headers={**headers, "content-type": "application/json"}
                )
                c.cookies.clear()
                _assert_rejected(r, (path, name))
    _record("oversized or malformed bodies", tried)
    assert await _counts(server_db_attack) == before


async def test_spoofed_client_addresses_do_not_dodge_attendee_or_user_limits(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = make_server(
        limits={"attendee_per_minute": 5, "user_per_minute": 5, "address_per_second": 100_000}
    )
    spoof_headers = [
        "X-Forwarded-For", "X-Real-IP", "Forwarded", "True-Client-IP",
        "CF-Connecting-IP", "X-Client-IP", "X-Cluster-Client-IP", "Client-IP",
    ]  # fmt: skip
    async with http_client(srv.url) as c:
        host = await register_user(c)
        r = await c.post("/api/events", json={"title": "Limits", "teams": [{"name": "A"}]},
                         headers=host["headers"])  # fmt: skip
        ev = r.json()
        r = await c.post("/api/events/join", json={"code": ev["code"]})
        c.cookies.clear()
        att = {"Authorization": f"Bearer {r.json()['token']}"}
        results = {}
        for who, headers, path in [
            ("attendee", att, f"/api/events/{ev['id']}/me"),
            ("user", host["headers"], "/api/events/mine"),
        ]:
            codes = []
            for i in range(16):
                name = spoof_headers[i % len(spoof_headers)]
                value = f"for=10.9.{i}.1" if name == "Forwarded" else f"10.9.{i}.1"
                r = await c.get(path, headers={**headers, name: value})
                codes.append(r.status_code)
            results[who] = codes
    # the user's earlier create-event request already used one of its 5
    assert results["attendee"].count(200) == 5, results
    assert results["user"].count(200) == 4, results
    assert all(code in (200, 429) for codes in results.values() for code in codes)
    _record("spoofed client addresses", 32)


@pytest.fixture
async def server_db_attack(attack_server: RunningServer) -> Any:
    from pymongo import AsyncMongoClient

    mc: AsyncMongoClient[Any] = AsyncMongoClient(attack_server.settings.mongo.uri, tz_aware=True)
    try:
        yield mc[attack_server.settings.mongo.database]
    finally:
        await mc.close()
