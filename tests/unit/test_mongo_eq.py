"""infra.mongo.eq: bare equalities become `$eq` (NX-27017 plans only that form on an index)."""

from __future__ import annotations

from bson import ObjectId

from livevote.infra.mongo import eq


def test_bare_equalities_become_eq_and_the_rest_is_kept() -> None:
    oid = ObjectId()
    query = {
        "_id": oid,
        "election_id": "e1",
        "city_index": 0,
        "slot": {"$exists": True},
        "$or": [{"a": 1}],
    }
    assert eq(query) == {
        "_id": oid,
        "election_id": {"$eq": "e1"},
        "city_index": {"$eq": 0},
        "slot": {"$exists": True},
        "$or": [{"a": 1}],
    }
    assert eq({}) == {}
