"""The console's waitlist routes in the real app: who may read and act, what the entries and the CSV
show (never a contact, but the phones to call back for admins), the journal, a broadcast started
from the console and its progress to the end (e-mails to a real SMTP server)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx

from storage.tables import access_journal
from tests.integration.serving import Service, serve_app
from tests.integration.test_broadcasts import seed, smtp_server, smtp_settings, until
from tests.integration.test_console import PASSWORD, Staff, _open_clients


async def _journal(service: Service, action: str) -> list[tuple[str, str | None]]:
    rows = await service.rows(access_journal, access_journal.c.action == action)
    return [(r.actor, r.detail) for r in rows]


async def test_operators_read_the_waitlist_admins_tell_it_and_watch_the_progress(
    database_url: str, tmp_path: Path
) -> None:
    # Suspended clients, crisis service in force: what a crisis announcement tells.
    crowd = await seed(
        database_url,
        telegram=0,
        whatsapp_open=0,
        whatsapp_closed=0,
        emails=3,
        phones=2,
        unreachable=1,
        level="crisis",
        reason="suspended",
    )
    with smtp_server() as (mailbox, port):
        async with serve_app(database_url, tmp_path, **smtp_settings(port)) as service:
            await service.services.accounts.add("alice", PASSWORD, "operator")
            await service.services.accounts.add("boss", PASSWORD, "admin")
            try:
                # Anonymous: nothing.
                async with httpx.AsyncClient(base_url=service.base) as anonymous:
                    for path in (
                        "/api/console/waitlist",
                        "/api/console/waitlist.csv",
                        "/api/console/broadcasts",
                    ):
                        assert (await anonymous.get(path)).status_code == 401
                    started = await anonymous.post("/api/console/broadcasts", json={"level": "normal"})
                    assert started.status_code == 401

                # An operator reads: the entries, how each client can be reached, never the contact.
                alice = Staff(service.base)
                assert (await alice.login("alice")).status_code == 200
                listed = await alice.get("/waitlist")
                assert listed.status_code == 200
                body = listed.json()
                assert body["count"] == 6
                contacts = sorted(" ".join(e["contact"]) for e in body["entries"])
                assert contacts == ["", "e-mail", "e-mail", "e-mail", "téléphone", "téléphone"]
                assert "@" not in listed.text
                assert "+3360" not in listed.text
                assert (await alice.get("/waitlist", department="13")).json()["count"] == 0
                assert (await alice.get("/waitlist", department="99")).status_code == 422
                exported = await alice.get("/waitlist.csv")
                assert exported.status_code == 200
                assert exported.headers["content-type"].startswith("text/csv")
                rows = list(csv.reader(io.StringIO(exported.text)))
                assert rows[0] == [
                    "since",
                    "reason",
                    "department",
                    "channel",
                    "language",
                    "told_at",
                    "contact",
                ]
                assert len(rows) == 7
                assert {r[3] for r in rows[1:]} == {"webchat"}
                assert "@" not in exported.text
                assert "+3360" not in exported.text
                assert await _journal(service, "waitlist_export") == [("alice", "* * * all 6")]
                # ...and may not act, nor see the phones.
                assert (await alice.get("/waitlist/callbacks")).status_code == 403
                assert (await alice.post("/waitlist/preview", {})).status_code == 403
                assert (await alice.post("/broadcasts", {"level": "normal"})).status_code == 403

                # An admin: CSRF needed; a bad filter or level is refused politely.
                boss = Staff(service.base)
                assert (await boss.login("boss")).status_code == 200
                forged = await boss.http.post("/api/console/broadcasts", json={"level": "normal"})
                assert forged.status_code == 403
                assert (await boss.post("/broadcasts", {"level": "suspended"})).status_code == 422
                assert (
                    await boss.post("/broadcasts", {"level": "normal", "department": "7"})
                ).status_code == 422
                # Normal service may not be announced while crisis is in force (review 3).
                looser = await boss.post("/broadcasts", {"level": "normal"})
                assert looser.status_code == 422
                assert "moins strict" in looser.json()["detail"]
                assert (
                    await boss.post("/broadcasts", {"level": "crisis", "department": "00"})
                ).status_code == 422
                lowered = await boss.post("/waitlist/preview", {"department": "2a"})
                assert lowered.json() == {"total": 0, "routes": {}}  # 2a read as 2A (nobody waits there)
                preview = await boss.post("/waitlist/preview", {})
                assert preview.json() == {"total": 6, "routes": {"email": 3, "callback": 2, "unreachable": 1}}
                assert mailbox.received == []  # a preview sends nothing
                started_by_boss = await boss.post("/broadcasts", {"level": "crisis"})
                assert started_by_boss.status_code == 200
                public_id = started_by_boss.json()["public_id"]

                async def finished() -> bool:
                    progress = (await alice.get(f"/broadcasts/{public_id}")).json()
                    return bool(progress["status"] == "done")

                await until(finished, 20, "the broadcast to finish")
                progress = (await alice.get(f"/broadcasts/{public_id}")).json()
                assert (
                    progress["sent"],
                    progress["failed"],
                    progress["callback"],
                    progress["remaining"],
                ) == (
                    3,
                    1,
                    2,
                    0,
                )
                assert [b["public_id"] for b in (await alice.get("/broadcasts")).json()["broadcasts"]] == [
                    public_id
                ]
                assert sorted(rcpt for _, rcpt, _ in mailbox.received) == sorted(crowd.emails)
                assert all("visites pour les urgences" in text for _, _, text in mailbox.received)
                ((actor, detail),) = await _journal(service, "broadcast")
                assert actor == "boss"
                assert detail is not None
                assert detail.startswith(f"{public_id} crisis * 6")
                # The phones to call back, for admins, journaled.
                phones = (await boss.get("/waitlist/callbacks")).json()["callbacks"]
                assert sorted(p["phone"] for p in phones) == sorted(crowd.phones)
                assert await _journal(service, "waitlist_phones") == [("boss", "2")]
                assert (await alice.get("/waitlist", told="told")).json()["count"] == 3
                assert (await alice.get("/waitlist")).json()["count"] == 3
                assert (await alice.get("/broadcasts/nope")).status_code == 404
            finally:
                await _open_clients()
