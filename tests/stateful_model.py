"""What the engine's stateful test draws from: clients and what they say, operators and what they
do, and what the machine remembers of each message (tests/integration/test_engine_stateful.py)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import hypothesis.strategies as st

from bot.app import Services
from bot.console.auth import Operator
from bot.errors import RefusedError
from bot.messages import Inbound
from flows.types import ClientInput

CLIENTS = (("script", "ana"), ("script", "bob"), ("terminal", "bob"))
OPERATORS = (
    Operator(row_id=1, id="op-claire", name="claire", role="operator"),
    Operator(row_id=2, id="op-david", name="david", role="operator"),
)
PATHS = ("handle", "webhook", "submit")
OWNERS = ("bot", "queue", "operator", "closed")

# A photo of the insurance card, as a channel hands it over (a stored file's path; the engine does
# not open it: an optician's copy of a missing file is left out of their brief).
CARD_PHOTO = ClientInput(media="insurance/stateful-card.png.enc")
# Answers the flow understands at each step (to get deep into it: cases, hand-off, follow-up): text,
# or what else the client sends there.
GOOD_ANSWERS: dict[str, list[str | ClientInput]] = {
    "greeting": ["mes lunettes sont cassées", "j'ai perdu mes lunettes", "bonjour"],
    "need": ["mes lunettes sont cassées", "j'ai perdu mes lunettes", "autre chose"],
    "prescription": ["je n'ai pas d'ordonnance"],
    "urgency": ["oui", "non"],
    "priority": ["infirmière", "non"],
    "mode": ["par la poste", "à domicile"],
    "visit_consent": ["oui"],
    "visit_address": ["12 rue Oberkampf 75011 Paris"],
    "visit_slot": ["demain matin"],
    "shipping_address": ["8 avenue Jean Jaurès 69007 Lyon"],
    "contact_name": ["Jean Dupont"],
    "contact_phone": ["06 98 76 54 32"],
    "insurance": ["non", "la MGEN", "Mutuelle Saint-Christophe", "passer", CARD_PHOTO],
    "insurance_card": ["passer", CARD_PHOTO],
    "summary": ["oui", "changer l'adresse", "changer la mutuelle"],
    "waitlist_offer": ["oui", "conseiller"],
    "handed_off": ["vous êtes là ?", "annuler", "oui", "non", "nouvelle demande", "conseiller"],
}
# Anything else a client says: commands, hand-off, noise, buttons (fresh, stale or tampered).
SAID = st.one_of(
    st.sampled_from(
        [
            "bonjour",
            "conseiller",
            "je veux parler à un conseiller",
            "annuler",
            "oui",
            "non",
            "nouvelle demande",
            "aide",
            "recommencer",
            "english",
            "français",
            "mes données",
            "vous êtes là ?",
            "zzz qwerty",
            "😀",
        ]
    ).map(lambda text: ClientInput(text=text)),
    st.sampled_from(
        [
            ("need", "broken"),
            ("urgency", "yes"),
            ("priority", "none"),
            ("mode", "shipment"),
            ("insurance", "none"),
            ("insurance_card", "skip"),
            ("summary", "change_insurance"),
            ("summary", "confirm"),
            ("waitlist_offer", "advisor"),
            ("need", "not-a-choice"),
        ]
    ).map(lambda pressed: ClientInput(step=pressed[0], choice=pressed[1])),
    st.just(ClientInput(unsupported="sticker")),
)
A_CLIENT = st.sampled_from(CLIENTS)


@dataclass(frozen=True)
class Well:
    """A good answer to the step the client's conversation is at when the message is written."""

    pick: int


# Mostly good answers (to get deep into the flow: cases, hand-off, follow-up), else anything.
A_SAYING = st.one_of(
    st.integers(0, 63).map(Well),
    st.integers(0, 63).map(Well),
    st.just(ClientInput(text="conseiller")),  # a case early: operators get to work
    SAID,
)
A_PATH = st.sampled_from(PATHS)
A_PICK = st.integers(0, 63)
NEWS = st.lists(st.tuples(A_CLIENT, A_SAYING), min_size=1, max_size=4)
Saying = ClientInput | Well
News = list[tuple[tuple[str, str], Saying]]


@dataclass(eq=False)
class Sent:
    """A message a client sent; ``acked``: a delivery of it was acknowledged (the platform will
    not send it again), ``fresh``: how many deliveries were stored as new (never more than one)."""

    inbound: Inbound
    acked: bool = False
    fresh: int = 0
    tried: int = 0  # when it was first delivered, and first acknowledged (the machine's clock)
    acked_at: int | None = None


@dataclass(frozen=True)
class OperatorStep:
    """An operator's action on a client's case, after ``after`` of the client's messages."""

    key: str
    after: int
    case: int  # the case's rank among the client's cases
    action: str
    who: int
    outcome: str


# What the examples exercised (rules run, cases reached, operator outcomes, messages swept).
TALLY: Counter[str] = Counter()
Rule = TypeVar("Rule", bound=Callable[..., None])
RULES: list[str] = []  # the rules, as :func:`counted` registers them


def counted(method: Rule) -> Rule:
    """Count the rule's runs in ``TALLY``: the test asserts that every rule ran."""
    RULES.append(method.__name__)

    @functools.wraps(method)
    def run(self: Any, **drawn: Any) -> None:
        TALLY[f"rule {method.__name__}"] += 1
        method(self, **drawn)

    return run  # type: ignore[return-value]


async def operate(services: Services, action: str, me: Operator, public_id: str) -> str:
    """An operator's action through the console service: "ok", or the status it was refused with."""
    console = services.console
    try:
        if action == "reply":
            await console.reply(me, public_id, "Bonjour, je m'occupe de votre demande.")
        else:
            await getattr(console, action)(me, public_id)
    except RefusedError as refused:
        return f"refused {refused.status}"
    return "ok"
