"""Activity and question documents → API views, results, leaderboard, export (pure)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from livevote.activities.schemas import (
    ActivityView,
    LeaderRow,
    OptionCount,
    QuestionView,
    RankRow,
    RatingRow,
    Results,
    TextRow,
    WordCount,
)
from livevote.infra.mongo import Doc

TOP_WORDS = 60


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _from_ms(value: Any) -> str | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat() if value else None


def activity_view(doc: Doc, *, host: bool) -> ActivityView:
    tally = doc.get("tally") or {}
    show_correct = host or bool(doc.get("revealed"))
    return ActivityView(
        id=str(doc["_id"]),
        event_id=doc["event_id"],
        kind=doc["kind"],
        prompt=doc["prompt"],
        options=list(doc.get("options") or []),
        multiple=bool(doc.get("multiple")),
        scale=doc.get("scale"),
        time_limit_s=doc.get("time_limit_s"),
        order=int(doc.get("order") or 0),
        status=doc.get("status", "draft"),
        live=bool(doc.get("live")),
        results_visible=bool(doc.get("results_visible")),
        revealed=bool(doc.get("revealed")),
        correct=doc.get("correct") if show_correct else None,
        opened_at=_from_ms(doc.get("opened_ms")),
        responses=int(tally.get("n", 0)),
    )


def top_word_keys(doc: Doc, limit: int = TOP_WORDS) -> list[str]:
    tally = doc.get("tally") or {}
    words = [(k, int(v)) for k, v in tally.items() if k.startswith("w") and int(v) > 0]
    words.sort(key=lambda kv: (-kv[1], kv[0]))
    return [k for k, _ in words[:limit]]


def results(doc: Doc, *, words: dict[str, str], texts: list[Doc], host: bool) -> Results:
    """The live results of one activity from its counters (`words`: key → word shown,
    `texts`: the open answers this reader may see)."""
    tally: dict[str, int] = {k: int(v) for k, v in (doc.get("tally") or {}).items()}
    n = tally.get("n", 0)
    out = Results(str(doc["_id"]), doc["kind"], doc["prompt"], n)
    options: list[str] = doc.get("options") or []
    kind = doc["kind"]
    if kind in ("choice", "quiz"):
        out.options = [
            OptionCount(i, text, tally.get(f"o{i}", 0), _percent(tally.get(f"o{i}", 0), n))
            for i, text in enumerate(options)
        ]
        if kind == "quiz" and (host or doc.get("revealed")):
            out.correct = doc.get("correct")
    elif kind == "wordcloud":
        out.words = [WordCount(words.get(k, "…"), tally.get(k, 0)) for k in top_word_keys(doc)]
    elif kind == "rating":
        top = int(doc.get("scale") or 5)
        out.distribution = [RatingRow(v, tally.get(f"r{v}", 0)) for v in range(1, top + 1)]
        out.average = round(tally.get("sum", 0) / n, 2) if n else None
    elif kind == "ranking":
        rows = [RankRow(i, t, tally.get(f"b{i}", 0), 0) for i, t in enumerate(options)]
        ordered = sorted(rows, key=lambda r: -r.points)
        for i, row in enumerate(ordered):
            prev = ordered[i - 1] if i else None
            row.rank = prev.rank if prev is not None and prev.points == row.points else i + 1
        out.ranking = ordered
    elif kind == "open":
        out.texts = [TextRow(str(t["_id"]), t["text"], t.get("status", "pending")) for t in texts]
    return out


def _percent(count: int, total: int) -> float:
    return round(100.0 * count / total, 1) if total else 0.0


def leaderboard(rows: list[Doc], limit: int = 10) -> list[LeaderRow]:
    out: list[LeaderRow] = []
    for i, r in enumerate(rows[:limit]):
        points = int(r.get("points") or 0)
        prev = out[-1] if out else None
        rank = prev.rank if prev is not None and prev.points == points else i + 1
        nickname = str(r.get("nickname") or "Player")
        out.append(LeaderRow(rank, nickname, points, int(r.get("answers") or 0)))
    return out


def question_view(doc: Doc) -> QuestionView:
    return QuestionView(
        id=str(doc["_id"]),
        text=doc["text"],
        name=doc.get("name") or None,
        status=doc["status"],
        pinned=bool(doc.get("pinned")),
        votes=int(doc.get("votes") or 0),
        created_at=_iso(doc.get("created_at")) or "",
    )


# -- export -------------------------------------------------------------------------------
def export_rows(activity: Doc, result: Results) -> list[dict[str, Any]]:
    """One row per counted thing of an activity: option, word, rating value, open text."""
    base = {"activity_id": result.activity_id, "kind": result.kind, "prompt": result.prompt}
    rows: list[dict[str, Any]] = []
    for o in result.options:
        correct = "" if result.correct is None else str(o.index == result.correct).lower()
        rows.append({**base, "item": o.text, "count": o.count, "value": o.percent, "note": correct})
    for w in result.words:
        rows.append({**base, "item": w.word, "count": w.count, "value": "", "note": ""})
    for d in result.distribution:
        rows.append({**base, "item": str(d.value), "count": d.count, "value": "", "note": ""})
    if result.average is not None:
        rows.append(
            {
                **base,
                "item": "average",
                "count": result.responses,
                "value": result.average,
                "note": "",
            }
        )
    for r in result.ranking:
        rows.append({**base, "item": r.text, "count": r.points, "value": r.rank, "note": "borda"})
    for t in result.texts:
        rows.append({**base, "item": t.text, "count": "", "value": "", "note": t.status})
    if not rows:
        rows.append({**base, "item": "", "count": result.responses, "value": "", "note": ""})
    return rows


def export_csv(activity_rows: list[dict[str, Any]], questions: list[QuestionView]) -> str:
    """Two tables separated by a blank line: every activity's results, then the Q&A."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["activity_id", "kind", "prompt", "item", "count", "value", "note"])
    for r in activity_rows:
        w.writerow(
            [
                r["activity_id"],
                r["kind"],
                _cell(r["prompt"]),
                _cell(str(r["item"])),
                r["count"],
                r["value"],
                r["note"],
            ]
        )
    w.writerow([])
    w.writerow(["question_id", "text", "name", "status", "pinned", "votes", "created_at"])
    for q in questions:
        w.writerow(
            [q.id, _cell(q.text), _cell(q.name or ""), q.status, q.pinned, q.votes, q.created_at]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    # Spreadsheet formula injection: never start a cell with = + - @.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
