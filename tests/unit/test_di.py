"""Request dependencies are awaited in order, without a task group per request (infra/di)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, get
from litestar._kwargs import kwargs_model
from litestar.di import Provide
from litestar.testing import TestClient

from livevote.infra import di

order: list[str] = []


async def first() -> str:
    order.append("first")
    return "a"


def second() -> str:
    order.append("second")
    return "b"


async def both(first: str, second: str) -> str:  # needs the other two: a later batch
    order.append("both")
    return first + second


async def refused() -> str:
    raise ValueError("no")


THREE = {
    "first": Provide(first),
    "second": Provide(second, sync_to_thread=False),
    "both": Provide(both),
}


@get("/three", dependencies=THREE)
async def three(first: str, second: str, both: str) -> dict[str, str]:
    return {"first": first, "second": second, "both": both}


@get("/refused", dependencies={"first": Provide(first), "bad": Provide(refused)})
async def bad(first: str, bad: str) -> str:
    return bad


def test_independent_dependencies_resolve_without_a_task_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_task_group() -> Any:
        raise AssertionError("a task group was opened to resolve dependencies")

    monkeypatch.setattr(kwargs_model, "create_task_group", no_task_group)
    di.install()
    order.clear()
    app = Litestar([three, bad], debug=False)
    with TestClient(app) as client:
        r = client.get("/three")
        assert r.status_code == 200
        assert r.json() == {"first": "a", "second": "b", "both": "ab"}
        assert sorted(order[:2]) == ["first", "second"] and order[2:] == ["both"]
        assert client.get("/refused").status_code == 500  # the dependency's error, raised
