"""`livevote report`: a ballot box's client. Sends one report (counts as `party=n`) or one
per row of a CSV file, and retries each with the *same* report id until the server
acknowledges it (202) or refuses it (4xx, printed): a dropped connection or a restarting
server never makes a box count twice, and running the command again is harmless.

    livevote report --election ID --key K --city london --box B-17 tories=120 labour=200
    livevote report --election ID --key K --csv boxes.csv      # columns: city, box, parties…
    livevote report … --corrects R-ID                          # a correction of report R-ID

The report id defaults to a hash of (election, city, box, counts, corrects), so the same
command sends the same report. Exit status: 0 all acknowledged, 1 some refused, 2 gave up.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
KNOWN_COLUMNS = {"city", "box", "ballot_box_id", "report_id", "corrects"}


def report_id_for(election: str, city: str, box: str, votes: dict[str, int], corrects: str) -> str:
    raw = json.dumps([election, city, box, sorted(votes.items()), corrects])
    return "r-" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def parse_counts(items: list[str]) -> dict[str, int]:
    votes: dict[str, int] = {}
    for item in items:
        party, sep, count = item.rpartition("=")
        if not sep or not party:
            raise ValueError(f"expected party=count, got {item!r}")
        votes[party] = int(count)  # a negative count is sent: the server refuses it
    return votes


def reports_from_csv(path: str, city: str | None) -> list[tuple[str, str, dict[str, int], str]]:
    """Rows of (city, box, votes, report_id or "") from a CSV with a header row."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            row_city = (row.get("city") or city or "").strip()
            box = (row.get("box") or row.get("ballot_box_id") or "").strip()
            if not row_city or not box:
                raise ValueError(f"{path}: every row needs a city and a box: {row}")
            votes = {
                k.strip(): int(v)
                for k, v in row.items()
                if k and k.strip() not in KNOWN_COLUMNS and v not in (None, "")
            }
            out.append((row_city, box, votes, (row.get("report_id") or "").strip()))
    return out


def post(url: str, key: str, body: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any]]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-Reporter-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {}
        return exc.code, payload


def send_until_answered(
    url: str, key: str, body: dict[str, Any], attempts: int, timeout: float = 10.0
) -> tuple[int, dict[str, Any]]:
    """POST until a 2xx or a 4xx other than 429; (0, {}) if every attempt failed."""
    delay = 0.25
    for attempt in range(attempts):
        try:
            status, payload = post(url, key, body, timeout)
            if status < 500 and status != 429:
                return status, payload
        except (OSError, ValueError):
            pass  # connection refused or dropped, timeout: resend the same report
        if attempt + 1 < attempts:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    return 0, {}


def run(args: argparse.Namespace) -> int:
    base = (args.url or os.environ.get("LIVEVOTE_URL") or DEFAULT_URL).rstrip("/")
    url = f"{base}/api/elections/{args.election}/reports"
    try:
        if args.csv:
            rows = reports_from_csv(args.csv, args.city)
        else:
            if not args.city or not args.box or not args.counts:
                print("report: give --city, --box and party=count…, or --csv FILE")
                return 2
            rows = [(args.city, args.box, parse_counts(args.counts), args.report_id or "")]
    except (OSError, ValueError) as exc:
        print(f"report: {exc}")
        return 2
    refused = gave_up = 0
    for city, box, votes, rid in rows:
        corrects = args.corrects or ""
        rid = rid or report_id_for(args.election, city, box, votes, corrects)
        body: dict[str, Any] = {
            "report_id": rid,
            "ballot_box_id": box,
            "city": city,
            "votes": votes,
        }
        if corrects:
            body["corrects"] = corrects
        status, payload = send_until_answered(url, args.key, body, args.attempts)
        if status == 0:
            gave_up += 1
            print(f"gave up  {city}/{box} {rid}: no answer after {args.attempts} attempts")
        elif 200 <= status < 300:
            print(f"{status}  {city}/{box} {rid} {payload.get('status', '')}".rstrip())
        else:
            refused += 1
            kind = str(payload.get("type", "")).rsplit("/", 1)[-1]
            print(f"{status}  {city}/{box} {rid} refused: {kind}: {payload.get('detail', '')}")
        sys.stdout.flush()
    return 2 if gave_up else 1 if refused else 0


def add_report_command(sub: Any) -> None:
    """Register `livevote report` (src/livevote/commands.py calls this)."""
    p = sub.add_parser("report", help="send ballot-box counts to an election (retrying)")
    p.add_argument("--election", required=True, help="the election id")
    p.add_argument("--key", required=True, help="a reporter key (election-wide or the city's)")
    p.add_argument("--city", help="the city (or a `city` column in --csv)")
    p.add_argument("--box", help="the ballot box id")
    p.add_argument("--csv", help="a CSV file: a header row, columns city, box and the parties")
    p.add_argument("--corrects", help="the report id this report corrects")
    p.add_argument("--report-id", help="default: a hash of the report (same command, same id)")
    p.add_argument("--url", help=f"the server (default $LIVEVOTE_URL or {DEFAULT_URL})")
    p.add_argument("--attempts", type=int, default=30, help="tries per report (default 30)")
    p.add_argument("counts", nargs="*", metavar="party=count")
    p.set_defaults(func=run)
