"""Pure parts of the feed walk: dense-run bookkeeping, batch sizing, filter signatures."""

from __future__ import annotations

from livevote.polls import feed

TOP = feed._just_above(f"{10**6:024x}")


def k(n: int) -> str:
    return f"{n:024x}"


def walk(run: feed._Run, newest: int, oldest: int, above: str) -> None:
    """Answered polls newest..oldest met in a row, the walk standing at `above` before."""
    for n in range(newest, oldest - 1, -1):
        run.answered(k(n), above=above)
        above = k(n)


def test_run_is_recorded_only_when_long_enough() -> None:
    run = feed._Run()
    walk(run, feed.MIN_RUN + 10, 10, above=k(feed.MIN_RUN + 11))
    run.broken(settled=TOP)
    short = feed._Run()
    walk(short, 5, 1, above=k(6))
    short.broken(settled=TOP)
    assert run.runs == [(k(10), k(feed.MIN_RUN + 11))]  # [lo, hi): hi is the bound above
    assert short.runs == []


def test_run_from_the_top_covers_the_newest_poll() -> None:
    run = feed._Run()
    walk(run, 1000, 1, above=feed._just_above(k(1000)))
    run.broken(settled=TOP)
    ((lo, hi),) = run.runs
    assert lo == k(1) and k(1000) < hi < k(1001)


def test_run_never_reaches_past_the_settled_key() -> None:
    run = feed._Run()
    walk(run, 1000, 1, above=k(1001))
    run.broken(settled=k(500))
    assert run.runs == [(k(1), k(500))]  # polls 1..499
    fresh = feed._Run()
    walk(fresh, 1000, 601, above=k(1001))
    fresh.broken(settled=k(500))  # entirely unsettled: nothing to remember
    assert fresh.runs == []


def test_a_jumped_run_is_extended_but_not_recorded_again() -> None:
    run = feed._Run()
    run.jumped(k(100), k(900))
    run.broken(settled=TOP)
    assert run.runs == []
    longer = feed._Run()
    walk(longer, 950, 900, above=k(951))
    longer.jumped(k(100), k(900))
    longer.broken(settled=TOP)
    assert longer.runs == [(k(100), k(951))]


def test_batch_size_follows_the_yield() -> None:
    assert feed._batch_size(11) == 22
    assert feed._batch_size(3) == feed.MIN_BATCH
    assert feed._batch_size(11, last_size=22, last_fresh=0) == 44  # all answered: double
    assert feed._batch_size(10, last_size=100, last_fresh=10) == 150  # 10 % fresh
    assert feed._batch_size(10**6) == feed.MAX_BATCH


def test_signature_is_case_insensitive_and_distinct() -> None:
    assert feed.signature("Sports", "Pizza") == feed.signature("sports", "pizza")
    assert feed.signature("sports", None) != feed.signature(None, "sports")
