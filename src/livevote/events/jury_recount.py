"""Recount the jury: rebuild every team's jury tally from the stored score sheets.

The jury tally on the event document ({team: {sheets, sums: {criterion: total}}}) moves by
each sheet's difference right after the sheet is written (jury.JuryService.put_sheet); a
crash between the two leaves it behind. This rebuilds it from `jury_sheets` and, with
`fix`, writes it back only if no sheet moved the tally since it was read (`jury_seq`).
Differences name the team as `jury <team id>`, values {sheets, <criterion>: total}. It runs
with the vote recount: `livevote recount events` and the host's POST .../recount.
"""

from __future__ import annotations

from livevote.errors import NotFound, ServiceUnavailable
from livevote.events.jury_repository import JuryRepository
from livevote.events.repository import EventRepository
from livevote.events.standings import criteria_of
from livevote.events.views import JURY_DIFFERENCE as JURY
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.infra.recount import Difference, RecountReport
from livevote.infra.resources import Clock, utc_now


def _flat(entry: Doc | None, names: list[str]) -> dict[str, int]:
    sums = (entry or {}).get("sums") or {}
    out = {"sheets": int((entry or {}).get("sheets", 0))}
    out.update({n: int(sums.get(n, 0)) for n in names})
    return out


async def recount_jury(
    events: EventRepository, jury: JuryRepository, event_id: str, *, fix: bool, clock: Clock
) -> RecountReport:
    for _ in range(20):
        event = await events.get(event_id)
        if event is None:
            raise NotFound(f"event {event_id!r} not found")
        event_id = str(event["_id"])
        names = [c["name"] for c in criteria_of(event)]
        rebuilt: dict[str, Doc] = {}
        for sheet in await jury.sheets_of(event_id):
            entry = rebuilt.setdefault(sheet["team_id"], {"sheets": 0, "sums": {}})
            entry["sheets"] += 1
            for name, value in sheet["scores"].items():
                entry["sums"][name] = entry["sums"].get(name, 0) + int(value)
        stored = event.get("jury_tally") or {}
        diffs = []
        for tid in sorted(set(stored) | set(rebuilt)):
            live, counted = _flat(stored.get(tid), names), _flat(rebuilt.get(tid), names)
            if live != counted:
                diffs.append(Difference(JURY + tid, live, counted))
        if not diffs or not fix:
            return RecountReport("events", event_id, consistent=not diffs, differences=diffs)
        seq = event.get("jury_seq")
        if await jury.replace_jury_tally_if_unchanged(event_id, seq, rebuilt, clock()):
            metrics.business("jury_recount", "fixed")
            return RecountReport("events", event_id, False, fixed=True, differences=diffs)
    raise ServiceUnavailable("jury sheets keep arriving; recount again when the jury is locked")


async def with_jury(
    events: EventRepository, votes: RecountReport, *, fix: bool, clock: Clock = utc_now
) -> RecountReport:
    """The vote recount's report for an event (recount.py) with the jury's added: one
    report per event, consistent only when both are, fixed when every differing part was."""
    jury_repo = JuryRepository(events.events.database)
    jury = await recount_jury(events, jury_repo, votes.id, fix=fix, clock=clock)
    parts = (votes, jury)
    consistent = all(p.consistent for p in parts)
    return RecountReport(
        votes.domain,
        votes.id,
        consistent=consistent,
        fixed=not consistent and all(p.consistent or p.fixed for p in parts),
        differences=[*votes.differences, *jury.differences],
        notes=[*votes.notes, *jury.notes],
    )
