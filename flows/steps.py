"""The intake questions as data: what each step asks, offers, and how a free-text answer is read.

A reader turns the client's text into an *event* of the intake machine (``flows/intake.py``) and the
value to record, or ``None`` when the answer is not understood.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz import fuzz, process

from flows import parsing, visit_calendar, waitlist_questions
from flows.answers import format_phone
from flows.insurers import known, no_card_at_hand, parse_insurance, says_no_insurance
from flows.types import FlowContext
from flows.visit_calendar import HalfDayPart

Reading = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class Hint:
    """Not an answer, but the reader knows why: the step is asked again after this text (a key)."""

    key: str


Reader = Callable[[str, FlowContext], Reading | None]
# A step's reader may also say why a text is no answer (a Sunday, a past moment).
StepReader = Callable[[str, FlowContext], Reading | Hint | None]

MIN_ADDRESS_LENGTH = 10
CHANNEL_PHONE_LABEL = "contact_phone.use_channel"


@dataclass(frozen=True, slots=True)
class ChoiceSpec:
    """A button: its value (what the channel sends back), its label key, the event it fires.

    ``label_values`` fill the label's variables when the button is made at run time.
    """

    value: str
    label: str
    event: str
    data: Any = None
    label_values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MadeChoices:
    """Buttons made from the context each time the question is asked (the next half-days).

    ``rebuild`` turns a pressed value back into the button it was, whenever it was made (for its
    label); a pressed one no longer offered is refused with the ``gone`` text.
    """

    offer: Callable[[FlowContext], tuple[ChoiceSpec, ...]]
    rebuild: Callable[[str], ChoiceSpec | None]
    gone: str


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    question: str
    hint: str
    choices: tuple[ChoiceSpec, ...]
    read: StepReader
    expects: str = "text"
    offers_channel_phone: bool = False  # also a button with the number the channel knows
    made: MadeChoices | None = None  # also buttons made at run time, before the fixed ones
    # Global commands whose words answer this step's own question: read by the step first
    # ("supprimer" at "effacer vos données ?" is a yes, "annuler" a no).
    own_commands: frozenset[str] = frozenset()


def _yes_no(
    yes: str = "yes", no: str = "no", parse: Callable[[str], bool | None] = parsing.parse_yes_no
) -> Reader:
    def read(text: str, ctx: FlowContext) -> Reading | None:
        answer = parse(text)
        if answer is None:
            return None
        return (yes, True) if answer else (no, False)

    return read


def _read_need(text: str, ctx: FlowContext) -> Reading | None:
    need = parsing.parse_need(text)
    return None if need is None else (need, need)


def _read_prescription(text: str, ctx: FlowContext) -> Reading | None:
    return ("missing", None) if parsing.parse_no_prescription(text) else None


def _read_priority(text: str, ctx: FlowContext) -> Reading | None:
    priority = parsing.parse_priority(text)
    return None if priority is None else ("answered", priority)


def _read_mode(text: str, ctx: FlowContext) -> Reading | None:
    mode = parsing.parse_mode(text)
    return None if mode is None else (mode, mode)


# A question's own ways of saying yes or no ("pas urgent", "j'accepte") are in flows.parsing.
_read_urgency = _yes_no(parse=parsing.parse_urgency)
_read_consent = _yes_no(parse=parsing.parse_consent)


def _address(step: str) -> StepReader:
    """The reader of an address step: a whole address in France, the postal code of a department
    and, besides the town, a street, a place or a house number. An address without its postal
    code, or a town without its street, is asked again saying kindly what is missing."""
    missing_postcode, missing_street = Hint(f"{step}.missing_postcode"), Hint(f"{step}.missing_street")

    def read(text: str, ctx: FlowContext) -> Reading | Hint | None:
        address = " ".join(text.split())
        if parsing.abroad(address):  # the step's own hint: an address in France
            return None
        found = parsing.find_postcode(address)
        if found is None:  # (a five-digit number that is none: two addresses, a door code...)
            missing = parsing.has_street(address) and not parsing.has_five_digits(address)
            return missing_postcode if missing else None
        postcode, rest = found
        if parsing.department_of(postcode) is None:  # abroad, Monaco: the step's own hint
            return None
        if len(address) < MIN_ADDRESS_LENGTH or not parsing.has_street(rest):
            return missing_street
        return ("given", {"address": address, "postal_code": postcode})

    return read


SLOT_BUTTONS = 4
ASAP = "asap"
# The label "key" of a half-day's button: its label is the half-day itself, written in the
# client's language ("Jeudi 3 décembre, matin"; see flows.answers.slot_label).
SLOT_LABEL = "visit_slot.button"


def _slot(day: date, part: HalfDayPart, asap: bool = False) -> dict[str, Any]:
    """A half-day as the answers hold it; "as soon as possible" holds the first bookable one."""
    slot: dict[str, Any] = {"date": day.isoformat(), "part": part}
    if asap:
        slot["asap"] = True
    return slot


def _read_slot(text: str, ctx: FlowContext) -> Reading | Hint | None:
    said = parsing.parse_half_day(text, ctx.today)
    if said is None:
        return None
    now = ctx.local_now
    if said.asap:
        first = visit_calendar.next_half_days(now, 1)
        return ("given", _slot(*first[0], asap=True)) if first else None
    part = said.part or visit_calendar.first_part(said.day, now)
    if part is None:
        return Hint(f"visit_slot.{visit_calendar.day_refusal(said.day, now)}")
    why = visit_calendar.refusal(said.day, part, now)
    if why is not None:
        return Hint(f"visit_slot.{why}")
    return ("given", _slot(said.day, part))


def slot_choices(ctx: FlowContext) -> tuple[ChoiceSpec, ...]:
    """The next bookable half-days as buttons ("2026-12-03 am"), then "as soon as possible"."""
    days = visit_calendar.next_half_days(ctx.local_now, SLOT_BUTTONS)
    buttons = tuple(
        ChoiceSpec(visit_calendar.slot_value(d, p), SLOT_LABEL, "given", _slot(d, p)) for d, p in days
    )
    if not days:
        return buttons
    return (*buttons, ChoiceSpec(ASAP, "visit_slot.asap", "given", _slot(*days[0], asap=True)))


def _slot_button(value: str) -> ChoiceSpec | None:
    """A half-day's button from its value, whenever it was offered (for its label)."""
    if value == ASAP:
        return ChoiceSpec(ASAP, "visit_slot.asap", "given")
    found = visit_calendar.parse_slot_value(value)
    return None if found is None else ChoiceSpec(value, SLOT_LABEL, "given", _slot(*found))


def _read_name(text: str, ctx: FlowContext) -> Reading | None:
    name = parsing.parse_name(text)
    return None if name is None else ("given", name)


def _read_phone(text: str, ctx: FlowContext) -> Reading | None:
    phone = parsing.parse_phone(text)
    return None if phone is None else ("given", phone)


def _read_insurance(text: str, ctx: FlowContext) -> Reading | Hint | None:
    """An insurer named (as listed, or as typed), none, or a wish to skip the question."""
    said = parse_insurance(text)
    if said is None:
        return None
    if said == "which":
        return Hint("insurance.which")
    if said in ("none", "skip"):
        return (said, {"status": "none" if said == "none" else "skipped"})
    # "la MGEN, je n'ai pas la carte": the card is not asked for.
    event = "named" if no_card_at_hand(text) else "given"
    return (event, {"status": "insured", "name": said})


def _read_insurance_card(text: str, ctx: FlowContext) -> Reading | None:
    """No photo of the card: skipped ("passer", "non", "je ne l'ai pas sur moi"); no insurance
    after all ("en fait je n'ai pas de mutuelle"); another listed insurer ("en fait c'est la
    MNT"), whose card is then asked for."""
    if says_no_insurance(text):
        return ("none", {"status": "none"})
    said = parse_insurance(text)
    if said in ("none", "skip") or parsing.parse_yes_no(text) is False:
        return ("skip", None)
    if said is not None and known(said) is not None and _corrects(text):
        return ("given", {"status": "insured", "name": said})
    return None


# Words that make an insurer named at the card's step a correction ("en fait c'est la MNT"); the
# name alone there may just repeat the answer before.
_CORRECTIONS = frozenset(
    ("fait", "plutot", "pardon", "erreur", "trompe", "trompee", "finalement", "corrige", "correction",
     "actually", "sorry", "rather", "instead", "mistake", "wrong")
)  # fmt: skip


def _corrects(text: str) -> bool:
    return not _CORRECTIONS.isdisjoint(parsing.normalize(text).split())


def _read_summary(text: str, ctx: FlowContext) -> Reading | None:
    # A change named wins over a "yes": "oui mais changez le nom" is a change (flows.parsing).
    action = parsing.parse_summary(text)
    return None if action is None else (action, None)


_read_waitlist = _yes_no("join", "decline", parsing.parse_waitlist)


def _read_waitlist_department(text: str, ctx: FlowContext) -> Reading | None:
    """Where the client waits: a postal code, a department's code or name; or skipped."""
    department = waitlist_questions.parse_department(text)
    # "je ne sais pas, thanks a lot": the skip is read before a place's name (not before a code)
    named_only = not any(c.isdigit() for c in text)
    if department is not None and not (named_only and waitlist_questions.skip_phrase(text)):
        return ("given", department)
    return ("skip", None) if waitlist_questions.says_skip(text) else None


def _read_waitlist_contact(text: str, ctx: FlowContext) -> Reading | None:
    """An e-mail address or a phone number to be told by (web chat), or skipped."""
    reach = waitlist_questions.parse_reach(text)
    if reach is not None:
        return ("given", reach)
    return ("skip", None) if waitlist_questions.says_skip(text) else None


_read_delete = _yes_no("erase", "keep", parsing.parse_erase)


def channel_phone_choice(phone: str | None) -> ChoiceSpec | None:
    """The number the channel knows (WhatsApp's) as a button of the phone step: pressed, it is
    recorded like the same number typed. None when the channel knows no valid number."""
    number = parsing.parse_phone(phone) if phone else None
    if number is None:
        return None
    return ChoiceSpec(number, CHANNEL_PHONE_LABEL, "given", number, (("phone", format_phone(number)),))


def _choices(step: str, *values: str) -> tuple[ChoiceSpec, ...]:
    """Buttons whose value is also the event they fire and the answer they record."""
    return tuple(ChoiceSpec(v, f"{step}.{v}", v, v) for v in values)


_YES_NO = (ChoiceSpec("yes", "choice.yes", "yes", True), ChoiceSpec("no", "choice.no", "no", False))

STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        Step(
            "need",
            "need.question",
            "need.hint",
            # "renewal" and "lenses" are offered in normal service only (IntakeFlow._offered_at).
            _choices("need", "broken", "lost", "unsuitable", "renewal", "lenses", "other"),
            _read_need,
        ),
        Step(
            "prescription",
            "prescription.question",
            "prescription.hint",
            _choices("prescription", "missing"),
            _read_prescription,
            expects="photo",
        ),
        Step("urgency", "urgency.question", "urgency.hint", _YES_NO, _read_urgency),
        Step(
            "priority",
            "priority.question",
            "priority.hint",
            tuple(
                ChoiceSpec(v, f"priority.{v}", "answered", v)
                for v in ("health", "food_retail", "delivery", "firefighter", "other", "none")
            ),
            _read_priority,
        ),
        Step("mode", "mode.question", "mode.hint", _choices("mode", "visit", "shipment"), _read_mode),
        Step(
            "visit_consent",
            "consent.question",
            "consent.hint",
            (
                ChoiceSpec("accept", "consent.accept", "yes", True),
                ChoiceSpec("refuse", "consent.refuse", "no", False),
            ),
            _read_consent,
        ),
        Step(
            "visit_address",
            "visit_address.question",
            "visit_address.hint",
            (),
            _address("visit_address"),
        ),
        Step(
            "visit_slot",
            "visit_slot.question",
            "visit_slot.hint",
            (),
            _read_slot,
            made=MadeChoices(slot_choices, _slot_button, "visit_slot.gone"),
        ),
        Step(
            "shipping_address",
            "shipping_address.question",
            "shipping_address.hint",
            (),
            _address("shipping_address"),
        ),
        Step("contact_name", "contact_name.question", "contact_name.hint", (), _read_name),
        Step(
            "contact_phone",
            "contact_phone.question",
            "contact_phone.hint",
            (),
            _read_phone,
            expects="phone",
            offers_channel_phone=True,
        ),
        Step(
            "insurance",
            "insurance.question",
            "insurance.hint",
            (
                ChoiceSpec("none", "insurance.none", "none", {"status": "none"}),
                ChoiceSpec("skip", "insurance.skip", "skip", {"status": "skipped"}),
            ),
            _read_insurance,
            expects="photo",
        ),
        Step(
            "insurance_card",
            "insurance_card.question",
            "insurance_card.hint",
            (ChoiceSpec("skip", "insurance_card.skip", "skip"),),
            _read_insurance_card,
            expects="photo",
        ),
        Step(
            "summary",
            "summary.question",
            "summary.hint",
            _choices(
                "summary",
                "confirm",
                "change_mode",
                "change_address",
                "change_slot",
                "change_name",
                "change_phone",
                "change_insurance",
            ),
            _read_summary,
        ),
        Step(
            "waitlist_offer",
            "waitlist.question",
            "waitlist.hint",
            (
                ChoiceSpec("join", "waitlist.join", "join"),
                ChoiceSpec("decline", "waitlist.decline", "decline"),
                ChoiceSpec("advisor", "choice.advisor", "advisor"),
            ),
            _read_waitlist,
        ),
        Step(
            "waitlist_department",
            "waitlist_department.question",
            "waitlist_department.hint",
            (ChoiceSpec("skip", "waitlist_department.skip", "skip"),),
            _read_waitlist_department,
        ),
        Step(
            "waitlist_contact",
            "waitlist_contact.question",
            "waitlist_contact.hint",
            (ChoiceSpec("skip", "waitlist_contact.skip", "skip"),),
            _read_waitlist_contact,
        ),
        Step(
            "confirm_delete",
            "delete.question",
            "delete.hint",
            (
                ChoiceSpec("erase", "delete.confirm", "erase"),
                ChoiceSpec("keep", "delete.keep", "keep"),
            ),
            _read_delete,
            own_commands=frozenset({"delete_data", "cancel"}),
        ),
    )
}

LABEL_MATCH_CUTOFF = 86.0


def match_label(text: str, labels: dict[str, str]) -> str | None:
    """The choice whose label the text spells, give or take accents and typos (value or None)."""
    wanted = parsing.normalize(text)
    if not wanted:
        return None
    found = process.extractOne(
        wanted,
        {value: parsing.normalize(label) for value, label in labels.items()},
        scorer=fuzz.ratio,
        score_cutoff=LABEL_MATCH_CUTOFF,
    )
    return None if found is None else str(found[2])
