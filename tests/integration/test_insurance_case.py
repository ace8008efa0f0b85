"""The client's insurance from the intake to every place it must be, on both databases: the case's
columns and the encrypted card, the client's export and "mes données", erasure and retention."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from storage import privacy
from storage.tables import cases, identities
from tests.harness import Harness, harness
from tests.integration.test_conversations import tiny_png

INSURER = "MGEN"
# A shipment, answered up to the phone; then the insurance question (the intake's last one).
TO_THE_INSURANCE = [
    "j'ai perdu mes lunettes",
    "oui",
    "non",
    "par la poste",
    "8 avenue Jean Jaurès 69007 Lyon",
    "Honorine Plumecoq",
    "06 98 76 54 32",
]


async def insured_case(h: Harness, user: str, insurer: str = INSURER, *, card: bool = True) -> Any:
    """``user`` asks for a shipment and names ``insurer`` (then sends the card's photo, or skips
    it), and confirms the summary; the case's row."""
    for text in TO_THE_INSURANCE:
        await h.send(user, text=text)
    asked = await h.send(user, text=insurer)
    assert asked[-1]["key"] == "insurance_card.question", asked
    if card:
        await h.send(user, media=h.services.files.save(tiny_png()))
    else:
        await h.send(user, text="passer")
    done = await h.send(user, text="oui")
    assert any(r["key"] == "handoff.done" for r in done), done
    (identity,) = await h.rows(identities, identities.c.key == f"script:{user}")
    (case,) = await h.rows(cases, cases.c.client_id == identity.client_id)
    return case


def _cards(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "data" / "prescriptions"  # the channels' one store for what clients send
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_the_case_keeps_the_insurer_and_the_encrypted_card(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        case = await insured_case(h, "insured")
        assert (case.insurance_status, case.insurer) == ("insured", "MGEN")
        assert case.insurance_card_path
        stored = tmp_path / "data" / case.insurance_card_path
        assert stored.is_file()
        assert tiny_png() not in stored.read_bytes()  # encrypted at rest
        assert h.services.files.read(case.insurance_card_path) == tiny_png()
        assert case.prescription_path is None  # a card is not a prescription

        other = await insured_case(h, "typed", "Mutuelle Zorglub du Var", card=False)
        assert (other.insurance_status, other.insurer, other.insurance_card_path) == (
            "insured",
            "Mutuelle Zorglub du Var",
            None,
        )


async def test_none_and_skipped_are_recorded_as_such(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        for user, answer, status in (("none", "pas de mutuelle", "none"), ("skip", "passer", "skipped")):
            for text in TO_THE_INSURANCE:
                await h.send(user, text=text)
            await h.send(user, text=answer)
            await h.send(user, text="oui")
            (identity,) = await h.rows(identities, identities.c.key == f"script:{user}")
            (case,) = await h.rows(cases, cases.c.client_id == identity.client_id)
            assert (case.insurance_status, case.insurer, case.insurance_card_path) == (status, None, None)


async def _card_only_the_case_names(h: Harness, case: Any) -> str:
    """The case's card replaced by a file no transcript row names (the photo's own message is
    another way to find it): the case's column alone must lead export and erasure to it."""
    path = h.services.files.save(tiny_png())
    async with h.services.database.begin() as connection:
        await connection.execute(cases.update().where(cases.c.id == case.id).values(insurance_card_path=path))
    return path


async def test_the_export_holds_the_insurance_and_the_card(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        case = await insured_case(h, "exported")
        card_path = await _card_only_the_case_names(h, case)
        replies = await h.send("exported", text="mes données")
        assert replies[0]["key"] == "my_data.header"
        # The summary they read: the case's own line says it.
        (line,) = [
            li for li in replies[0]["text"].splitlines() if li.startswith(f"• Demande {case.reference}")
        ]
        assert line.endswith("mutuelle : MGEN (carte reçue)"), line
        record = json.loads(h.services.files.read(replies[0]["document"]["path"]))
        (exported,) = record["cases"]
        assert (exported["insurance_status"], exported["insurer"]) == ("insured", "MGEN")
        assert exported["insurance_card_path"] == card_path
        card_name = card_path.rsplit("/", 1)[-1].removesuffix(".enc")
        (card,) = [f for f in record["files"] if f["name"] == card_name]
        assert base64.b64decode(card["base64"]) == tiny_png()


async def test_erasure_deletes_the_card_and_blanks_the_insurance(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        case = await insured_case(h, "erased")
        sent = tmp_path / "data" / case.insurance_card_path  # the photo as the client sent it
        card = tmp_path / "data" / await _card_only_the_case_names(h, case)
        await h.services.engine.privacy.erase(case.client_id, actor="test", detail="test")
        (erased,) = await h.rows(cases, cases.c.id == case.id)
        assert (erased.insurance_status, erased.insurer, erased.insurance_card_path) == (None, None, None)
        assert not sent.exists()
        assert not card.exists()
        assert _cards(tmp_path) == []


async def test_an_anonymised_case_gives_up_its_card(database_url: str, tmp_path: Path) -> None:
    """Anonymising a case alone (retention, a closed case of a client still active) returns its
    card among the files to delete."""
    async with harness(database_url, tmp_path) as h:
        case = await insured_case(h, "anonymised")
        desk = h.services.engine.privacy
        async with h.services.database.begin() as connection:
            files = await privacy.anonymise_cases(connection, [case.id], h.clock.now, desk.pseudonyms)
        assert files == [case.insurance_card_path]
        (anonymous,) = await h.rows(cases, cases.c.id == case.id)
        assert (anonymous.insurance_status, anonymous.insurer, anonymous.insurance_card_path) == (None,) * 3


async def test_retention_purges_the_card_of_a_case_closed_long_ago(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        desk = h.services.engine.privacy
        case = await insured_case(h, "old")
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.update(cases).where(cases.c.id == case.id).values(status="done", done_at=h.clock.now)
            )
        card = tmp_path / "data" / case.insurance_card_path
        h.clock.now += timedelta(days=29)
        assert (await desk.purge()).insurance_cards_deleted == 0
        assert card.exists()

        h.clock.now += timedelta(days=2)  # past the file delay (30 days), within the case's (90)
        dry = await desk.purge(dry_run=True)
        assert (dry.insurance_cards_deleted, dry.prescriptions_deleted) == (1, 0)
        assert card.exists()
        done = await desk.purge()
        assert done.insurance_cards_deleted == 1
        assert ("insurance card files deleted", 1) in done.lines()
        assert not card.exists()
        (kept,) = await h.rows(cases, cases.c.id == case.id)
        assert kept.insurance_card_path is None
        assert (kept.insurance_status, kept.insurer) == ("insured", "MGEN")  # the case itself stays
