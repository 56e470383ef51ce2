"""Event document → public view, results, export rows (pure functions, no I/O)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from typing import Any

from livevote.events.schemas import (
    Criterion,
    EventView,
    JuryDifference,
    RecountOut,
    ResultRow,
    ResultsView,
    TallyDifference,
    TeamView,
)
from livevote.events.standings import criteria_of, jury_weight_of, standings
from livevote.infra.mongo import Doc
from livevote.infra.recount import RecountReport


def ordered_teams(event: Doc) -> list[tuple[str, str]]:
    teams = event.get("teams") or {}
    items = sorted(teams.items(), key=lambda kv: (kv[1].get("order", 0), kv[0]))
    return [(tid, t["name"]) for tid, t in items]


def results_visibility(event: Doc) -> str:
    if event.get("results") == "live":
        return "live"
    return "revealed" if event.get("revealed") else "hidden"


def results_visible(event: Doc) -> bool:
    return results_visibility(event) != "hidden"


def public_view(event: Doc) -> EventView:
    # `on_stage` comes from the event document's `stage` (one atomic read), never from a
    # scan of the teams collection: a reader can never see two teams on stage.
    stage = event.get("stage") or None
    voting_open = bool(event.get("voting_open"))
    return EventView(
        id=str(event["_id"]),
        code=event["code"],
        title=event["title"],
        status=event["status"],
        voting_open=voting_open,
        voting_team=(event.get("voting_team") or None) if voting_open else None,
        stage=stage,
        teams=[TeamView(tid, name, tid == stage) for tid, name in ordered_teams(event)],
        attendees=int(event.get("attendees", 0)),
        max_score=int(event["max_score"]),
        results_visibility=results_visibility(event),
        results_visible=results_visible(event),
        admission=str(event.get("admission") or "open"),
        activity=event.get("activity") or None,
        criteria=[Criterion(name=c["name"], weight=int(c["weight"])) for c in criteria_of(event)],
        jury_weight=jury_weight_of(event),
        jury_locked=bool(event.get("jury_locked")),
        jurors=len(event.get("jurors") or {}),
        language=event.get("language") or None,
    )


def results(event: Doc) -> list[ResultRow]:
    """Per team: audience, jury, final and rank (rules in standings.py)."""
    return standings(event)


# A recount difference names the team it is about: `what` = "team <team id>" for its
# audience tally, "jury <team id>" for its jury tally (jury_recount.py).
TEAM_DIFFERENCE = "team "
JURY_DIFFERENCE = "jury "


def results_view(event: Doc) -> ResultsView:
    rows = results(event)
    return ResultsView(str(event["_id"]), sum(r.votes for r in rows), rows)


def recount_view(report: RecountReport) -> RecountOut:
    """The recount report as `POST /api/events/{id}/recount` answers it: the audience tally
    differences in the shape it has always had, then the jury's (as `livevote recount
    events` prints them: `jury <team>: stored {sheets, <criterion>...}, counted {...}`)."""
    return RecountOut(
        report.id,
        report.consistent,
        report.fixed,
        [
            TallyDifference(
                d.what.removeprefix(TEAM_DIFFERENCE),
                d.stored["votes"],
                d.stored["score_sum"],
                d.counted["votes"],
                d.counted["score_sum"],
            )
            for d in report.differences
            # the attendee count has no row here (see `livevote recount`)
            if d.what.startswith(TEAM_DIFFERENCE)
        ],
        [
            JuryDifference(
                d.what.removeprefix(JURY_DIFFERENCE),
                d.stored.get("sheets", 0),
                d.counted.get("sheets", 0),
                {k: v for k, v in d.stored.items() if k != "sheets"},
                {k: v for k, v in d.counted.items() if k != "sheets"},
            )
            for d in report.differences
            if d.what.startswith(JURY_DIFFERENCE)
        ],
    )


def voter_hash(secret: str, event_id: str, attendee_id: str) -> str:
    """Anonymised but stable voter id: the same attendee gets the same hash in one event."""
    mac = hmac.new(secret.encode(), f"{event_id}:{attendee_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:16]


def export_rows(event: Doc, votes: list[Doc], secret: str) -> list[dict[str, Any]]:
    names = dict(ordered_teams(event))
    eid = str(event["_id"])
    voided = event.get("voided") or {}
    return [
        {
            "team_id": v["team_id"],
            "team": names.get(v["team_id"], ""),
            "voter": voter_hash(secret, eid, v["attendee_id"]),
            "score": int(v["score"]),
            "at": v["at"].isoformat(),
            "voided": bool(voided.get(v["attendee_id"])),
        }
        for v in votes
    ]


def export_voids(event: Doc, audit: list[Doc], secret: str) -> list[dict[str, Any]]:
    """The host's voids for the export: who (the same voter hash as the vote log), why, when."""
    eid = str(event["_id"])
    return [
        {
            "voter": voter_hash(secret, eid, str(e["attendee_id"])),
            "reason": str(e.get("reason") or ""),
            "at": e["at"].isoformat() if hasattr(e.get("at"), "isoformat") else "",
            "votes": int(e.get("votes") or 0),
        }
        for e in audit
    ]


def export_csv(
    rows: list[ResultRow], log: list[dict[str, Any]], voids: list[dict[str, Any]] | None = None
) -> str:
    """Tables separated by a blank line: results, the anonymised vote log, then (only when
    the host voided someone) the voids."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "rank",
            "team_id",
            "team",
            "votes",
            "score_sum",
            "average",
            "jurors",
            "jury_average",
            "final",
        ]
    )
    for r in sorted(rows, key=lambda r: r.rank):
        audience = [r.votes, r.score_sum, r.average]
        w.writerow(
            [r.rank, r.team_id, _cell(r.name), *audience, r.jury.jurors, r.jury.average, r.final]
        )
    w.writerow([])
    w.writerow(["at", "team_id", "team", "voter", "score", "voided"])
    for v in log:
        voided = "yes" if v.get("voided") else ""
        w.writerow([v["at"], v["team_id"], _cell(v["team"]), v["voter"], v["score"], voided])
    if voids:
        w.writerow([])
        w.writerow(["voided_at", "voter", "votes", "reason"])
        for x in voids:
            w.writerow([x["at"], x["voter"], x["votes"], _cell(x["reason"])])
    return out.getvalue()


def _cell(text: str) -> str:
    # Spreadsheet formula injection: never start a cell with = + - @.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
