"""The console's queue is paged by a cursor (keyset, issue 17): walking its pages shows every case
once, in the queue's order, even when cases arrive or leave between two pages — through the real
app and its API, on both databases."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from storage.tables import cases
from tests.integration.serving import Service, serve_app
from tests.seeding import insert_client

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("alice", PASSWORD, "operator")
        yield service


async def _signed_in(app: Service) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=app.base, timeout=15)
    response = await http.post("/api/console/login", json={"name": "alice", "password": PASSWORD})
    assert response.status_code == 200
    return http


async def _add_cases(app: Service, specs: list[tuple[int, datetime]], status: str = "queued") -> list[str]:
    """Cases of these (priority rank, hand-off instant), each of its own client; their public ids."""
    made = []
    async with app.services.database.begin() as connection:
        for rank, at in specs:
            client_id, conversation_id = await insert_client(connection, "webchat", secrets.token_hex(6), at)
            public_id = secrets.token_hex(8)
            await connection.execute(
                sa.insert(cases).values(
                    reference=secrets.token_hex(4).upper(),
                    public_id=public_id,
                    client_id=client_id,
                    conversation_id=conversation_id,
                    kind="emergency",
                    status=status,
                    channel="webchat",
                    language="fr",
                    priority_rank=rank,
                    created_at=at,
                    updated_at=at,
                )
            )
            made.append(public_id)
    return made


async def _page(http: httpx.AsyncClient, after: str | None, limit: int = 4) -> dict[str, Any]:
    params: dict[str, Any] = {"status": "queued", "limit": limit}
    if after is not None:
        params["after"] = after
    response = await http.get("/api/console/cases", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_walking_the_pages_shows_every_case_once_in_order_while_cases_arrive_and_leave(
    app: Service,
) -> None:
    # Two ranks, and about six cases at each rank and instant: pages end inside the order's ties.
    specs = [(n % 2, T0 + timedelta(minutes=n // 12)) for n in range(23)]
    first = await _add_cases(app, specs)
    http = await _signed_in(app)
    try:
        order = [c["id"] for c in (await _page(http, None, limit=100))["cases"]]
        assert sorted(order) == sorted(first)
        seen: list[str] = []
        after: str | None = None
        gone: str | None = None
        arrived: list[str] = []
        for number in range(20):
            page = await _page(http, after)
            seen += [c["id"] for c in page["cases"]]
            after = page["next"]
            if number == 0:
                # Between two pages: cases arrive before the cursor (rank 0, oldest: an OFFSET
                # would show a row twice) and after it (rank 2, newest: they must show once)...
                await _add_cases(app, [(0, T0 - timedelta(hours=1)), (0, T0 - timedelta(hours=2))])
                arrived = await _add_cases(app, [(2, T0 + timedelta(hours=5)), (2, T0 + timedelta(hours=6))])
                # ...and a case not shown yet leaves the queue (an OFFSET would skip another).
                gone = order[10]
                async with app.services.database.begin() as connection:
                    await connection.execute(
                        sa.update(cases).where(cases.c.public_id == gone).values(status="done")
                    )
            if after is None:
                break
        assert after is None, "the pages never ended"
        assert len(seen) == len(set(seen)), "a case was shown twice"
        expected = [c for c in order if c != gone] + arrived
        assert seen == expected, "a case was skipped, or the order broke"
    finally:
        await http.aclose()


async def test_a_cursor_that_is_not_one_is_refused(app: Service) -> None:
    http = await _signed_in(app)
    try:
        # Not numbers; a time no date can hold; a rank or an id no column can hold; a dot too many.
        for cursor in ("1.x.3", "0.99999999999999999999.1", f"{2**40}.0.1", f"0.0.{2**70}", "1.2.3.4"):
            response = await http.get("/api/console/cases", params={"after": cursor})
            assert response.status_code == 422, cursor
    finally:
        await http.aclose()
