"""No personal data in the logs, even at DEBUG, even when a message fails."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.logs import configure_logging
from bot.messages import Inbound
from flows.types import ClientInput
from storage.tables import cases, identities
from tests.harness import CHANNEL, Harness, harness
from tests.integration.test_conversations import tiny_png

NAME = "Zéphyrine Canarius"
PHONE = "06 47 58 69 70"
ADDRESS = "17 rue du Canari 75011 Paris"
E164 = "+33647586970"
INSURER = "Mutuelle des Pinsons Zébrés"  # a name the shipped list does not know: kept as typed
# Spellings that must never reach a log line (compared case-insensitively).
CANARIES = (
    NAME,
    "Zéphyrine",
    "Zephyrine",
    "Z\\u00e9phyrine",
    "Canarius",
    "rue du Canari",
    "Canari",
    PHONE,
    "0647586970",
    E164,
    "33647586970",
    "47 58 69 70",
    ADDRESS,
    INSURER,
    "Pinsons Zébrés",
    "Pinsons Zebres",
    "Z\\u00e9br\\u00e9s",
)
PHONE_DIGITS = "647586970"
_PHONE_LIKE = re.compile(r"\d[\d .\-/()+]*")


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    """configure_logging changes process-wide logger levels: put them back afterwards."""
    manager = logging.Logger.manager
    levels = {
        name: logger.level
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    yield
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
    root.setLevel(root_level)
    for handler in root.handlers[:]:
        if handler not in root_handlers:
            root.removeHandler(handler)


def leaks(text: str) -> list[str]:
    folded = text.casefold()
    found = [canary for canary in CANARIES if canary.casefold() in folded]
    found += [run for run in _PHONE_LIKE.findall(text) if PHONE_DIGITS in re.sub(r"\D", "", run)]
    return found


def record_texts(record: logging.LogRecord) -> list[str]:
    texts = [record.getMessage()]
    if record.exc_info:
        texts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        texts.append(record.exc_text)
    if record.stack_info:
        texts.append(record.stack_info)
    return texts


async def said(h: Harness, user: str, expected: list[str], **message: Any) -> list[dict[str, Any]]:
    replies = await h.send(user, **message)
    assert [r["key"] for r in replies] == expected, [r["text"] for r in replies]
    return replies


async def test_no_personal_data_in_logs(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, restore_loggers: None
) -> None:
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)

    # Every reference the same: the second hand-off below collides and fails for real.
    async with harness(database_url, tmp_path, references=lambda: "OB-CANARY") as h:
        # 1. A whole conversation to the hand-off, with a data export on the way.
        first = "canary-visit"
        await said(h, first, ["greeting", "need.question"], text="Bonjour")
        await said(h, first, ["urgency.question"], text="mes lunettes sont cassées")
        await said(h, first, ["priority.question"], text="oui")
        await said(h, first, ["mode.question"], text="je suis infirmière")
        replies = await said(h, first, ["consent.question"], text="à domicile")
        await said(h, first, ["visit_address.question"], choice="accept", step=replies[-1]["step"])
        await said(h, first, ["visit_slot.question"], text=ADDRESS)
        await said(h, first, ["contact_name.question"], text="demain matin")
        await said(h, first, ["contact_phone.question"], text=NAME)
        await said(h, first, ["insurance.question"], text=PHONE)
        await said(h, first, ["insurance_card.question"], text=INSURER)
        card = h.services.files.save(tiny_png())
        replies = await said(h, first, ["insurance_card.received", "summary.question"], media=card)
        assert NAME in replies[-1]["text"]
        assert PHONE in replies[-1]["text"]
        assert f"{INSURER} (carte reçue)" in replies[-1]["text"]
        replies = await said(h, first, ["my_data.header", "summary.question"], text="mes données")
        assert NAME in replies[0]["text"]
        assert ADDRESS in replies[0]["text"]
        assert INSURER in replies[0]["text"]
        replies = await said(h, first, ["handoff.done"], text="oui")
        assert "OB-CANARY" in replies[0]["text"]
        await said(h, first, ["followup.notice"], text=f"c'est {NAME}, rappelez-moi au {PHONE}")
        stored = await h.rows(cases)
        assert [(c.contact_name, c.contact_phone, c.address) for c in stored] == [(NAME, E164, ADDRESS)]
        assert [(c.insurer, c.insurance_card_path) for c in stored] == [(INSURER, card)]

        # 2. A second client: export, then erasure.
        second = "canary-erase"
        await said(h, second, ["greeting", "urgency.question"], text="mes lunettes sont cassées")
        await said(h, second, ["priority.question"], text="oui")
        await said(h, second, ["mode.question"], text="non")
        await said(h, second, ["shipping_address.question"], text="envoi")
        await said(h, second, ["contact_name.question"], text=ADDRESS)
        await said(h, second, ["contact_phone.question"], text=f"je m'appelle {NAME}")
        await said(h, second, ["insurance.question"], contact_phone=E164)
        await said(h, second, ["insurance_card.question"], text=f"oui, la {INSURER}")
        await said(h, second, ["summary.question"], text="passer")
        replies = await said(h, second, ["my_data.header", "summary.question"], text="mes données")
        assert NAME in replies[0]["text"]
        assert PHONE in replies[0]["text"]
        assert INSURER in replies[0]["text"]
        replies = await said(h, second, ["delete.question"], text="supprimer mes données")
        await said(h, second, ["delete.done"], choice="erase", step=replies[-1]["step"])
        assert await h.rows(identities, identities.c.key == f"{CHANNEL}:{second}") == []

        # 3. A third client whose hand-off fails on the database (duplicate reference).
        third = "canary-failure"
        await said(h, third, ["greeting", "urgency.question"], text="mes lunettes sont cassées")
        await said(h, third, ["priority.question"], text="oui")
        await said(h, third, ["mode.question"], text="non")
        await said(h, third, ["shipping_address.question"], text="envoi")
        await said(h, third, ["contact_name.question"], text=ADDRESS)
        await said(h, third, ["contact_phone.question"], text=NAME)
        await said(h, third, ["insurance.question"], text=PHONE)
        await said(h, third, ["insurance_card.question"], text=f"ma mutuelle c'est la {INSURER}")
        await said(h, third, ["summary.question"], text="je n'ai pas la carte")
        with pytest.raises(sa.exc.IntegrityError):
            await h.send(third, text="oui")
        assert [r["key"] for r in await h.delivered_to(third)] == ["technical_error"]
        assert len(await h.rows(cases)) == 1

        # 4. A message stored but not processed before the process stopped.
        fourth = "canary-recovered"
        text = f"{NAME}, {PHONE}, {ADDRESS}, {INSURER} : mes lunettes sont cassées"
        inbound = Inbound(CHANNEL, fourth, uuid.uuid4().hex, ClientInput(text=text))
        accepted = await h.engine.accept(inbound)
        assert not accepted.duplicate

    async with harness(database_url, tmp_path) as h:  # a restart recovers it
        replies = await h.delivered_to(fourth)
        assert [r["key"] for r in replies] == ["greeting", "urgency.question"]

    records = caplog.records
    messages = [r.getMessage() for r in records]
    # The capture is not empty, and it holds what the failure and the recovery log.
    failed = [r for r in records if r.name == "bot.pipeline" and r.levelno == logging.ERROR]
    assert failed, messages
    assert all("engine.py:" in r.getMessage() for r in failed), messages  # where, not what
    assert any("IntegrityError" in t for r in failed for t in record_texts(r)), messages
    assert any(
        r.name == "bot.engine" and r.levelno == logging.ERROR and "giving up" in r.getMessage()
        for r in records
    ), messages
    assert "recovered 1 unprocessed inbound messages" in messages

    leaked = {
        f"{r.name} {r.levelname}: {r.getMessage()[:200]}": found
        for r in records
        for text in record_texts(r)
        if (found := leaks(text))
    }
    assert leaked == {}
    assert leaks(caplog.text) == []


def test_the_leak_detector_finds_every_spelling() -> None:
    for text in (
        "Zephyrine",
        "client CANARIUS",
        "{'address': '17 Rue du canari'}",
        "+33 6 47 58 69 70",
        "06.47.58.69.70",
        "tel=0033647586970",
        '{"name": "Z\\u00e9phyrine"}',
        "insurer='mutuelle des pinsons zébrés'",
        '{"insurer": "Pinsons Z\\u00e9br\\u00e9s"}',
    ):
        assert leaks(text), text
    assert leaks("recovered 1 unprocessed inbound messages; took 647 ms, 586 rows") == []
