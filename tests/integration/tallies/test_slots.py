"""City slots handed out in blocks by a per-city allocator (tallies/boxes.py): two processes
never aim at the same slot, and a slot taken without the allocator moves it past."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from bson import ObjectId

from livevote.tallies.boxes import BoxSlots
from livevote.tallies.repository import ElectionRepository
from tests.support.tallies import create_election, report_body, send, totals
from tests.support.users import register_user


async def test_two_processes_are_never_handed_the_same_slot(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """Before the allocator, each process took "the next slot above the highest it knew":
    two processes reporting into one city were handed the same slots, and every collision
    sent its report down the one-by-one path. Two BoxSlots with blocks of their own (two
    processes) reserving in turns and at once: every slot handed out once, all below the
    city's size, and the city filled without a gap."""
    u = await register_user(client)
    e = await create_election(client, u["headers"], cities=[{"name": "c", "ballot_boxes": 500}])
    repo = ElectionRepository(server_db)
    election = await repo.election(ObjectId(e["id"]))
    assert election is not None
    a, b = BoxSlots(repo, blocks={}), BoxSlots(repo, blocks={})
    handed: list[int] = []
    for n in (3, 1, 40, 7, 1, 1, 5):  # in turns
        handed += await a.reserve(election, 0, n)
        handed += await b.reserve(election, 0, n)
    for batch in await asyncio.gather(*(s.reserve(election, 0, 9) for s in (a, b) * 10)):
        handed += batch  # at once
    assert len(handed) == len(set(handed)) == 2 * 58 + 20 * 9
    assert all(0 <= s < 500 for s in handed)
    # no gap: every slot the allocator gave out was handed to a report or is still held
    held = [
        s
        for p in (a, b)
        for blocks in p.blocks.values()
        for lo, hi in blocks
        for s in range(lo, hi)
    ]
    allocator = await server_db["election_slot_blocks"].find_one({"_id": f"{e['id']}:0"})
    assert sorted(handed + held) == list(range(min(allocator["next"], 500)))


async def test_a_slot_taken_without_the_allocator_moves_it_past(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """Reports stored before the allocator existed (or by the free-slot walk) hold slots it
    would hand out: the insert that meets one goes alone, the allocator jumps past the
    highest taken slot, and the reports after it are batched again."""
    u = await register_user(client)
    e = await create_election(client, u["headers"], cities=[{"name": "c", "ballot_boxes": 100}])
    # 10 reports stored with slots 0-9 but no allocator (as older code stored them)
    assert (await send(client, e, report_body("r0", "b0", "c", {"labour": 1}))).status_code == 202
    await server_db["election_slot_blocks"].delete_many({"_id": f"{e['id']}:0"})
    r0 = await server_db["election_reports"].find_one({"report_id": "r0", "election_id": e["id"]})
    legacy = []
    for i in range(1, 10):
        doc = {k: v for k, v in r0.items() if k != "_id"}
        legacy.append(
            {**doc, "report_id": f"r{i}", "ballot_box_id": f"b{i}", "original_box": f"b{i}"}
        )
        legacy[-1]["slot"] = i
    await server_db["election_reports"].insert_many(legacy)
    # this process still holds the rest of r0's block: forget it, as a new process would
    from livevote.tallies import boxes

    boxes._BLOCKS.clear()
    bodies = [report_body(f"n{i}", f"nb{i}", "c", {"tories": 1}) for i in range(40)]
    answers = await asyncio.gather(*(send(client, e, b) for b in bodies))
    assert {r.status_code for r in answers} == {202}, [r.text for r in answers]
    slots = await server_db["election_reports"].distinct("slot", {"election_id": e["id"]})
    assert len(slots) == 50 and min(slots) == 0 and max(slots) < 100
    allocator = await server_db["election_slot_blocks"].find_one({"_id": f"{e['id']}:0"})
    assert allocator is not None and allocator["next"] >= 50
    t = await totals(client, e, "c")  # (the legacy rows were never counted: not the API's)
    assert t["votes"]["tories"] == 40 and t["reported_boxes"] == 41


async def test_a_citys_first_blocks_taken_at_once_are_all_different(server_db: Any) -> None:
    """100 processes taking the first block of a new city at the same moment (all upserts of
    one allocator document): each gets its own block, none a 500. MongoDB answers the upsert
    that loses the race with DuplicateKeyError, NX-27017 may answer it with no document."""
    repo = ElectionRepository(server_db)
    election_id = str(ObjectId())
    firsts = await asyncio.gather(*(repo.take_slot_block(election_id, 3, 32) for _ in range(100)))
    assert sorted(firsts) == [32 * i for i in range(100)]
