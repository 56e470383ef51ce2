"""Each activity kind end to end over HTTP: create, make live, answer, read the results."""

from __future__ import annotations

import httpx

from livevote.activities.kinds import normalise_word, word_key
from tests.support.activities import room


async def test_choice_single_and_multiple(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=3)
    single = await r.create(kind="choice", prompt="Lunch?", options=["Pizza", "Salad", "Soup"])
    await r.live(single["id"])
    a, b, c = r.attendees
    assert (await r.answer(a, single["id"], options=[0])).status_code == 201
    assert (await r.answer(b, single["id"], options=[0])).status_code == 201
    two = await r.answer(c, single["id"], options=[1, 2])
    assert two.status_code == 422, two.text
    assert (await r.answer(c, single["id"], options=[2])).status_code == 201
    res = await r.results(single["id"])
    assert res["responses"] == 3
    assert [o["count"] for o in res["options"]] == [2, 0, 1]
    assert res["options"][0]["percent"] == 66.7

    multi = await r.create(kind="choice", prompt="Which?", options=["A", "B", "C"], multiple=True)
    await r.live(multi["id"])
    assert (await r.answer(a, multi["id"], options=[0, 2])).status_code == 201
    assert (await r.answer(b, multi["id"], options=[2])).status_code == 201
    res = await r.results(multi["id"])
    assert [o["count"] for o in res["options"]] == [1, 0, 2]
    assert res["responses"] == 2


async def test_wordcloud_normalises(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=3)
    cloud = await r.create(kind="wordcloud", prompt="One word for today")
    await r.live(cloud["id"])
    a, b, c = r.attendees
    assert (await r.answer(a, cloud["id"], words=["Café", "  Fun ", "fun"])).status_code == 201
    assert (await r.answer(b, cloud["id"], words=["CAFE", "long   day"])).status_code == 201
    assert (await r.answer(c, cloud["id"], words=["cafe", "Long Day"])).status_code == 201
    res = await r.results(cloud["id"])
    counts = {w["word"]: w["count"] for w in res["words"]}
    assert counts == {"Café": 3, "long day": 2, "Fun": 1}
    too_many = await r.answer(c, cloud["id"], words=["a", "b", "c", "d"])
    assert too_many.status_code == 422


async def test_rating_average_and_distribution(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=3)
    rating = await r.create(kind="rating", prompt="How was it?", scale=5)
    await r.live(rating["id"])
    for attendee, value in zip(r.attendees, [5, 4, 4], strict=True):
        assert (await r.answer(attendee, rating["id"], value=value)).status_code == 201
    res = await r.results(rating["id"])
    assert res["average"] == 4.33
    assert [d["count"] for d in res["distribution"]] == [0, 0, 0, 2, 1]
    r2 = await r.join()
    assert (await r.answer(r2[0], rating["id"], value=6)).status_code == 422


async def test_ranking_borda(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=3)
    rank = await r.create(kind="ranking", prompt="Order these", options=["X", "Y", "Z"])
    await r.live(rank["id"])
    a, b, c = r.attendees
    # Borda with 3 options: first 2 points, second 1, last 0.
    assert (await r.answer(a, rank["id"], order=[0, 1, 2])).status_code == 201  # X2 Y1 Z0
    assert (await r.answer(b, rank["id"], order=[1, 0, 2])).status_code == 201  # Y2 X1 Z0
    assert (await r.answer(c, rank["id"], order=[1, 2, 0])).status_code == 201  # Y2 Z1 X0
    res = await r.results(rank["id"])
    assert [(x["text"], x["points"], x["rank"]) for x in res["ranking"]] == [
        ("Y", 5, 1),
        ("X", 3, 2),
        ("Z", 1, 3),
    ]
    bad = await r.join()
    assert (await r.answer(bad[0], rank["id"], order=[0, 0, 1])).status_code == 422


async def test_open_text_is_moderated_and_kept_as_text(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=2)
    open_ = await r.create(kind="open", prompt="Any feedback?")
    await r.live(open_["id"])
    a, b = r.attendees
    markup = "<script>alert(1)</script> great talk"
    assert (await r.answer(a, open_["id"], text=markup)).status_code == 201
    assert (await r.answer(b, open_["id"], text="x" * 281)).status_code == 400
    assert (await r.answer(b, open_["id"], text="Thanks!")).status_code == 201
    host_view = await r.results(open_["id"])
    assert {t["text"] for t in host_view["texts"]} == {markup, "Thanks!"}
    assert {t["status"] for t in host_view["texts"]} == {"pending"}
    public = await r.results(open_["id"], host=False)
    assert public["texts"] == []  # nothing reaches the screen before approval
    first = next(t for t in host_view["texts"] if t["text"] == markup)
    m = await client.put(
        f"/api/events/{r.id}/activities/{open_['id']}/responses/{first['id']}",
        json={"status": "approved"},
        headers=r.h,
    )
    assert m.status_code == 200, m.text
    public = await r.results(open_["id"], host=False)
    assert [t["text"] for t in public["texts"]] == [markup]  # stored as typed


async def test_bad_answers_write_nothing(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=1)
    (a,) = r.attendees
    choice = await r.create(kind="choice", prompt="Q", options=["A", "B"])
    closed = await r.answer(a, choice["id"], options=[0])
    assert closed.status_code == 409
    assert closed.json()["type"].endswith("/activity-closed")
    assert closed.headers["content-type"].startswith("application/problem+json")
    await r.live(choice["id"])
    out_of_range = await r.answer(a, choice["id"], options=[2])
    assert out_of_range.status_code == 422
    wrong_shape = await r.answer(a, choice["id"], value=1)
    assert wrong_shape.status_code == 422
    assert (await r.results(choice["id"]))["responses"] == 0
    assert (await r.answer(a, choice["id"], options=[1])).status_code == 201
    again = await r.answer(a, choice["id"], options=[0])
    assert again.status_code == 409 and again.json()["type"].endswith("/already-answered")
    res = await r.results(choice["id"])
    assert [o["count"] for o in res["options"]] == [0, 1]
    await r.live(None)
    late = await r.answer((await r.join())[0], choice["id"], options=[0])
    assert late.status_code == 409 and late.json()["type"].endswith("/activity-closed")
    bad = await client.post(
        f"/api/events/{r.id}/activities",
        json={"kind": "quiz", "prompt": "Q", "options": ["A", "B"]},
        headers=r.h,
    )
    assert bad.status_code == 422  # a quiz needs its correct option


async def test_results_hidden_until_shown_and_host_only_controls(
    client: httpx.AsyncClient,
) -> None:
    r = await room(client, attendees=1)
    quiz = await r.create(kind="quiz", prompt="2+2?", options=["3", "4"], correct=1)
    await r.live(quiz["id"])
    hidden = await client.get(f"/api/events/{r.id}/activities/{quiz['id']}/results")
    assert hidden.status_code == 403
    listed = (await client.get(f"/api/events/{r.id}/activities")).json()
    assert listed["live"] == quiz["id"]
    assert listed["items"][0]["correct"] is None  # not before the reveal
    stranger = await client.put(
        f"/api/events/{r.id}/activity",
        json={"activity_id": None},
        headers=r.attendees[0]["headers"],
    )
    assert stranger.status_code == 401
    event = (await client.get(f"/api/events/{r.id}")).json()
    assert event["activity"] == quiz["id"]


async def test_host_reorders_activities(client: httpx.AsyncClient) -> None:
    r = await room(client)
    # found by the schemathesis fuzz: ordering an event with no activities was a 500
    empty = await client.put(f"/api/events/{r.id}/activities/order", json={"ids": []}, headers=r.h)
    assert empty.status_code == 200, empty.text
    assert empty.json()["items"] == []
    ids = [(await r.create(kind="rating", prompt=f"Q{i}"))["id"] for i in range(3)]
    wanted = [ids[2], ids[0], ids[1]]
    res = await client.put(
        f"/api/events/{r.id}/activities/order", json={"ids": wanted}, headers=r.h
    )
    assert res.status_code == 200, res.text
    assert [a["id"] for a in res.json()["items"]] == wanted
    bad = await client.put(
        f"/api/events/{r.id}/activities/order", json={"ids": ids[:2]}, headers=r.h
    )
    assert bad.status_code == 422


def test_word_normalisation() -> None:
    assert normalise_word("  Café   Crème ") == "cafe creme"
    assert normalise_word("ÉLAN") == normalise_word("elan")
    assert normalise_word("Straße") == "strasse"  # casefold, not lower
    assert word_key(normalise_word("Café")) == word_key("cafe")
    assert "." not in word_key("a.b") and "$" not in word_key("$x")


async def test_attendee_of_another_event_is_refused(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=1)
    other = await room(client, attendees=1)
    poll = await r.create(kind="choice", prompt="Q", options=["A", "B"])
    await r.live(poll["id"])
    stranger = other.attendees[0]
    res = await r.answer(stranger, poll["id"], options=[0])
    assert res.status_code == 403
    mine = await client.get(
        f"/api/events/{r.id}/activities/{poll['id']}/response", headers=stranger["headers"]
    )
    assert mine.status_code == 403
    assert (await r.results(poll["id"]))["responses"] == 0
