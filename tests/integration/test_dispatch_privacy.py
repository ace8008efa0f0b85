"""What an optician learns before accepting a visit, and what erasure can find afterwards.

An offer, its "already taken" / "withdrawn" edits and ``/mescas`` name the place by postal code
and department only (tables), never by a word of the client's address or name; and every row
the dispatch writes about a case carries the case's id, so that erasing the client finds it.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
import tomllib
import unicodedata
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.engine import Engine
from bot.messages import Inbound
from flows.departments import department_of
from flows.types import ClientInput
from storage.tables import cases, messages
from tests.fakes.telegram import FakeTelegram
from tests.integration.serving import Service
from tests.integration.test_dispatch import (
    ALICE,
    VISIT,
    _dispatch,
    _offers_to,
    _optician,
    assert_every_row_names_its_case,
    serve,
)
from tests.integration.test_telegram import Client


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(chat_limit=(40, 1.0)) as server:
        yield server


@dataclass(frozen=True)
class Spelling:
    """An address as a client may write it, the client's name, the words of either that must
    never reach an optician who has not accepted, and the place the offer must say instead."""

    address: str
    name: str
    hidden: tuple[str, ...]
    place: str


SPELLINGS = (
    Spelling(
        "Lyon 69003 rue des Lilas", "Jeanne Lefort", ("lyon", "lilas", "jeanne", "lefort"), "69003 · Rhône"
    ),
    Spelling(
        "12 rue Victor Hugo 69003 Lyon chez Mme Dupont",
        "Paul Girard",
        ("victor", "hugo", "lyon", "dupont", "paul", "girard"),
        "69003 · Rhône",
    ),
    Spelling(
        "8 allée des Tilleuls, bâtiment B, 33000 Bordeaux",
        "Nadia Benali",
        ("allee", "tilleuls", "batiment", "bordeaux", "nadia", "benali"),
        "33000 · Gironde",
    ),
    Spelling(
        "appartement 12, 4 impasse du Moulin 44000 Nantes",
        "Louis Marchand",
        ("appartement", "impasse", "moulin", "nantes", "louis", "marchand"),
        "44000 · Loire-Atlantique",
    ),
    Spelling(
        "13 avenue Foch 59046 Lille CEDEX",
        "Claire Dubois",
        ("foch", "lille", "cedex", "claire", "dubois"),
        "59046 · Nord",
    ),
    Spelling(
        "5 rue des acacias 31000 toulouse",
        "hugo petit",
        ("acacias", "toulouse", "petit"),
        "31000 · Haute-Garonne",
    ),
    Spelling(
        "7 boulevard Gambetta 06000 Nice",
        "Inès Roussel",
        ("boulevard", "gambetta", "nice", "ines", "roussel"),
        "06000 · Alpes-Maritimes",
    ),
    # A street and a client named like towns.
    Spelling(
        "10 avenue de Paris 78000 Versailles",
        "Florence Nancy",
        ("paris", "versailles", "florence", "nancy"),
        "78000 · Yvelines",
    ),
    Spelling(
        "Résidence les Pins, 20000 Ajaccio",
        "Ange Santoni",
        ("residence", "pins", "ajaccio", "ange", "santoni"),
        "20000 · Corse-du-Sud",
    ),
    Spelling(
        "Route de la Marine 20200 Bastia",
        "Marie Luciani",
        ("route", "marine", "bastia", "marie", "luciani"),
        "20200 · Haute-Corse",
    ),
    Spelling(
        "15 rue Juliette Dodu 97400 Saint-Denis",
        "Teddy Payet",
        ("juliette", "dodu", "saint", "denis", "teddy", "payet"),
        "97400 · La Réunion",
    ),
    Spelling(
        "Quartier Bellevue 97200 Fort-de-France",
        "Aimé Joseph",
        ("quartier", "bellevue", "fort", "france", "aime", "joseph"),
        "97200 · Martinique",
    ),
    Spelling(
        "40 rue de la Roquette, 75011 Paris 11e",
        "Émile Caron",
        ("roquette", "emile", "caron"),
        "75011 · Paris",
    ),
    Spelling(
        "Marseille, 13008, 25 chemin du Roucas Blanc",
        "Sarah Haddad",
        ("marseille", "chemin", "roucas", "blanc", "sarah", "haddad"),
        "13008 · Bouches-du-Rhône",
    ),
    Spelling(
        "chez M. et Mme Martin 6 rue Nationale 37000 Tours",
        "Lucie Martin",
        ("chez", "martin", "nationale", "tours", "lucie"),
        "37000 · Indre-et-Loire",
    ),
)
# The client's insurer (one a client, in turn): shown to the optician who accepted, never in an offer.
INSURERS = (
    "Malakoff Humanis",
    "c'est la Mutuelle Saint-Christophe",
    "Groupe Pasteur Mutualité",
    "Klesia",
    "Ociane Matmut",
)


def _insurer(index: int) -> str:
    return INSURERS[index % len(INSURERS)]


# Three groups of five visits, each group's departments covered by its own two opticians: a taker
# and a bystander who never accepts (so that no chat goes past Telegram's burst and waits).
GROUPS = 3
TAKERS, BYSTANDERS = (801, 811, 821), (802, 812, 822)
OPTICIANS = (*TAKERS, *BYSTANDERS)


def _group(index: int) -> int:
    return index * GROUPS // len(SPELLINGS)


def _fold(text: str) -> str:
    """Lower case without accents, so that "Inès" and "ines" are the same word."""
    text = unicodedata.normalize("NFKD", html.unescape(text))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]{3,}", _fold(text)))


def _catalog_words() -> set[str]:
    """Every word the service may say on its own: the French catalogue's."""
    raw = tomllib.loads((Path(__file__).parents[2] / "flows" / "texts" / "fr.toml").read_text("utf-8"))

    def strings(node: Any) -> Iterable[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    return set().union(*(_words(s) for s in strings(raw)))


def _phone(index: int) -> str:
    return f"06 12 34 56 {10 + index}"


async def _ask_for_a_visit(engine: Engine, index: int, spelling: Spelling) -> None:
    """A client asks for a home visit through the engine (their channel is not what this is about)."""
    said = [*VISIT]
    said[said.index("12 rue Oberkampf 75011 Paris")] = spelling.address
    said[said.index("Marie Curie")] = spelling.name
    said[said.index("06 12 34 56 78")] = _phone(index)
    at = said.index("pas de mutuelle")
    said[at : at + 1] = [_insurer(index), "passer"]  # named, the card's photo skipped
    for step, text in enumerate(said):
        await engine.handle(Inbound("script", f"client{index}", f"{index}-{step}", ClientInput(text=text)))


async def _settled(service: Service, within: float = 20.0) -> None:
    """Every outbound row delivered (or dropped): what the fake saw is all there will be."""
    deadline = time.monotonic() + within
    pending = (
        (messages.c.channel == "telegram")
        & (messages.c.direction == "out")
        & messages.c.sent_at.is_(None)
        & messages.c.failed_at.is_(None)
    )
    while await service.rows(messages, pending):
        assert time.monotonic() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.1)


def _texts_seen_by(fake: FakeTelegram, chat: int) -> list[str]:
    """Every text the bot sent or edited into the chat, as sent (later edits do not hide earlier
    texts), with the labels of its buttons."""
    seen = []
    for request in fake.requests:
        params = request.params
        if str(params.get("chat_id")) != str(chat):
            continue
        seen += [str(params[k]) for k in ("text", "caption") if k in params]
        markup = params.get("reply_markup")
        if markup:
            markup = json.loads(markup) if isinstance(markup, str) else markup
            rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
            seen += [str(b.get("text", b)) if isinstance(b, dict) else str(b) for row in rows for b in row]
    return seen


async def _press(fake: FakeTelegram, chat: int, reference: str, label: str) -> None:
    """Press the button ``label`` on the message about ``reference`` (not just the last one)."""
    for message in reversed(fake.messages_to(chat)):
        if reference in message.text:
            for button in message.buttons():
                if button.get("text") == label:
                    await fake.press(chat, button["callback_data"], message_id=message.message_id)
                    return
    raise AssertionError(f"no {label!r} button on a message about {reference} to {chat}")


async def test_what_an_optician_reads_before_accepting_names_no_street_and_no_client(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        for g in range(GROUPS):
            departments = sorted({department_of(s.place[:5]) or "" for i, s in _in_group(g)})
            await _optician(fake, service, TAKERS[g], f"Anne {g}", departments)
            await _optician(fake, service, BYSTANDERS[g], f"Bruno {g}", departments)
        engine = service.services.engine
        await asyncio.gather(*(_ask_for_a_visit(engine, i, s) for i, s in enumerate(SPELLINGS)))
        by_name = {row.contact_name: row for row in await service.rows(cases)}
        made = [by_name[s.name] for s in SPELLINGS]
        for case in made:
            await _dispatch(service, str(case.public_id))
        await fake.wait_for(lambda: all(len(_offers_to(fake, c)) == 5 for c in OPTICIANS), 20)

        # In each group the taker accepts two visits (one done, one failed, or both kept open),
        # the bystander declines one, and the last three go to shipment (their offers withdrawn).
        console = service.services.console
        for g in range(GROUPS):
            taker, bystander = TAKERS[g], BYSTANDERS[g]
            first, second, declined, *shipped = [made[i] for i, _ in _in_group(g)]
            for case in (first, second):
                await _press(fake, taker, case.reference, "J'accepte")
                await _shows(fake, taker, case.reference, "est pour vous")
            if g == 0:
                await _press(fake, taker, second.reference, "Visite faite")
                await _shows(fake, taker, second.reference, "est close")
            elif g == 1:
                await _press(fake, taker, second.reference, "Visite impossible")
                await _shows(fake, taker, second.reference, "Pourquoi")
                await _press(fake, taker, second.reference, "Client absent")
                await _shows(fake, taker, second.reference, "rendue")
            await _press(fake, bystander, declined.reference, "Je refuse")
            await _shows(fake, bystander, declined.reference, "refusé")
            for case in (declined, *shipped):
                await console.to_shipment(ALICE, str(case.public_id))
            await fake.say(taker, "/mescas")
            await fake.say(bystander, "/mescas")
        for g in range(GROUPS):
            await Client(fake, BYSTANDERS[g]).expect("pas de visite", within=15)
            listed = 2 if g == 2 else 1
            await fake.wait_for(
                lambda g=g, n=listed: sum("acceptée" in m.text for m in fake.messages_to(TAKERS[g])) == n, 15
            )
        await _settled(service)

        # Each offer says where, from tables; /mescas says reference, half-day, place and status.
        for i, spelling in enumerate(SPELLINGS):
            seen = _texts_seen_by(fake, BYSTANDERS[_group(i)])
            (offer,) = [t for t in seen if "Nouvelle visite" in t and made[i].reference in t]
            assert spelling.place in offer
            if i in _open_visits():
                (listed,) = [
                    m.text
                    for m in fake.messages_to(TAKERS[_group(i)])
                    if "acceptée" in m.text and made[i].reference in m.text
                ]
                assert spelling.place in listed

        # What reached any optician, but the winners' briefs: no word of any address or name.
        rows = await service.rows(messages)
        briefs = {row.text for row in rows if (row.payload or {}).get("key") == "optician.won"}
        assert len(briefs) == 2 * GROUPS
        texts = [t for chat in OPTICIANS for t in _texts_seen_by(fake, chat)]
        chats = {str(c) for c in OPTICIANS}
        texts += [row.text for row in rows if row.party in chats and row.direction == "out"]
        texts = [t for t in texts if t not in briefs]
        assert len(texts) > 3 * len(made)
        _assert_no_word_of_the_client(texts, made)
        await assert_every_row_names_its_case(service)


def _in_group(group: int) -> list[tuple[int, Spelling]]:
    return [(i, s) for i, s in enumerate(SPELLINGS) if _group(i) == group]


def _open_visits() -> set[int]:
    """The visits still with their taker at the end: each group's first, and group 2's second."""
    return {_in_group(g)[0][0] for g in range(GROUPS)} | {_in_group(2)[1][0]}


async def _shows(fake: FakeTelegram, chat: int, *fragments: str) -> None:
    """Wait until a message of the chat (sent, or edited since) holds every fragment."""

    def shown() -> bool:
        return any(all(f in m.text for f in fragments) for m in fake.messages_to(chat))

    await fake.wait_for(shown, 15)


def _assert_no_word_of_the_client(texts: list[str], made: list[Any]) -> None:
    catalog = _catalog_words() | _words("Anne Bruno")
    secret = [
        (case.reference, set(s.hidden) | (_words(f"{s.address} {s.name} {_insurer(i)}") - catalog), s.place)
        for i, (case, s) in enumerate(zip(made, SPELLINGS, strict=True))
    ]
    phones = [_phone(i) for i in range(len(made))]
    phones += [p.replace(" ", "") for p in phones] + ["+33" + p.replace(" ", "")[1:] for p in phones]
    for text in texts:
        # A place's own words (the department "Paris", "Rhône") may appear in a text about that case.
        allowed = catalog.union(*(_words(place) for reference, _, place in secret if reference in text))
        said = _words(text)
        for reference, words, _ in secret:
            leaked = (words & said) - allowed
            assert not leaked, f"{reference}: {sorted(leaked)} in {text!r}"
        assert not [p for p in phones if p in text], text
