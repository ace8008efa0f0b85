"""Channel-agnostic values exchanged between the engine and the flows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

SERVICE_TIME_ZONE = ZoneInfo("Europe/Paris")

Owner = Literal["bot", "queue", "operator", "closed"]
Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")

# The service level (issue 15): "normal" takes every need, "crisis" emergencies only (mobilised
# workers first), "suspended" no new request. Stricter is later in LEVELS.
ServiceLevel = Literal["normal", "crisis", "suspended"]
LEVELS: tuple[ServiceLevel, ...] = ("normal", "crisis", "suspended")
DEFAULT_LEVEL: ServiceLevel = "crisis"  # the seed's service, until an admin says otherwise


def as_level(value: object) -> ServiceLevel:
    """A stored level as one we know (an unknown or missing one: the default)."""
    return next((level for level in LEVELS if level == value), DEFAULT_LEVEL)


def stricter(level: ServiceLevel, than: ServiceLevel) -> bool:
    return LEVELS.index(level) > LEVELS.index(than)


@dataclass(frozen=True, slots=True)
class Levels:
    """The service levels in force as the engine read them for this batch: the national level and
    the departments' own ones (a local lockdown; a department not listed follows the national)."""

    national: ServiceLevel = DEFAULT_LEVEL
    departments: tuple[tuple[str, ServiceLevel], ...] = ()

    def of(self, department: str | None) -> ServiceLevel:
        """The level for a client of ``department`` (None: not known yet, the national level)."""
        if department is not None:
            for code, level in self.departments:
                if code == department:
                    return level
        return self.national

    def mildest(self) -> ServiceLevel:
        """The most open level in force anywhere: what a client whose department is not known yet
        may be offered (re-checked against their department's level once their address is known)."""
        return min((self.national, *(level for _, level in self.departments)), key=LEVELS.index)


def as_language(value: str | None) -> Language:
    """A stored or requested language as one we speak: English if asked, French otherwise."""
    return "en" if value == "en" else "fr"


def next_language(current: str, target: str | None) -> Language:
    """The language a "langue" command switches to: the one named, or the other one."""
    return as_language(target if target in LANGUAGES else ("en" if current == "fr" else "fr"))


@dataclass(frozen=True, slots=True)
class ClientInput:
    """What the client said, whatever the channel.

    ``choice`` is the value of a pressed button and ``step`` the step the button was shown at, so a
    stale or tampered button can be told apart from a fresh one. ``media`` is the data-folder path of
    an uploaded file (a prescription); ``contact_phone`` a number shared by the channel itself.
    ``unsupported`` names content the bot cannot read (sticker, voice, location...).
    """

    text: str | None = None
    choice: str | None = None
    step: str | None = None
    media: str | None = None
    media_name: str | None = None
    contact_phone: str | None = None
    unsupported: str | None = None

    def to_payload(self) -> dict[str, str]:
        """The fields that are set (``asdict`` is several times slower on this hot path)."""
        values = {
            "text": self.text,
            "choice": self.choice,
            "step": self.step,
            "media": self.media,
            "media_name": self.media_name,
            "contact_phone": self.contact_phone,
            "unsupported": self.unsupported,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message for the client: a catalogue key, its rendered text, and the offered choices.

    ``expects`` tells a channel what input fits (``text``, ``phone``, ``photo``) so it can offer the
    right widget (Telegram's share-my-number button, a file picker).
    """

    key: str
    text: str
    choices: tuple[Choice, ...] = ()
    step: str | None = None
    expects: str | None = None
    document: dict[str, str] | None = None  # a file to attach: path (data folder), filename, mime

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "key": self.key,
            "text": self.text,
            "choices": [{"value": c.value, "label": c.label} for c in self.choices],
            "step": self.step,
            "expects": self.expects,
        }
        if self.document is not None:
            payload["document"] = self.document
        return payload


@dataclass(slots=True)
class ConversationState:
    """The part of a stored conversation the flow reads and changes."""

    state: str = "greeting"
    language: Language = "fr"
    answers: dict[str, Any] = field(default_factory=dict)
    misses: int = 0
    owner: Owner = "bot"
    notice_sent: bool = False  # after hand-off: the client was told once that an advisor answers


@dataclass(frozen=True, slots=True)
class CreateCase:
    # "request": an ordinary request taken in normal service (after emergencies in the queue)
    kind: Literal["emergency", "advisor", "request"]
    reference: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordConsent:
    purpose: str
    wording_version: str
    given_at: datetime


@dataclass(frozen=True, slots=True)
class JoinWaitlist:
    reason: str
    department: str | None = None  # known from the address given before the offer


@dataclass(frozen=True, slots=True)
class WaitlistDetails:
    """Asked after joining the waitlist: where the client waits (to filter the announcement) and,
    for a web chat client, an e-mail address or a phone number to be told by. Set fields only."""

    department: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True, slots=True)
class ExportData:
    """The client asked for their data: the engine renders it from storage."""


@dataclass(frozen=True, slots=True)
class EraseData:
    """The client confirmed the deletion of their data."""


@dataclass(frozen=True, slots=True)
class RelayToCase:
    """After hand-off: the client's message joins their case, which shows "le client a écrit";
    ``reopen``: the case was done or cancelled a short while ago and goes back to the queue."""

    reopen: bool = False


@dataclass(frozen=True, slots=True)
class CancelCase:
    """The client confirmed they cancel their live case."""


@dataclass(frozen=True, slots=True)
class NewRequest:
    """The client asked for a new request: this conversation ends and a new one starts."""


@dataclass(frozen=True, slots=True)
class AppointmentAnswer:
    """After hand-off, about the visit's appointment: a proposal's button as pressed (``step`` and
    ``choice``, checked by dispatch against the current proposal)."""

    choice: str
    step: str | None = None


Effect = (
    CreateCase
    | RecordConsent
    | JoinWaitlist
    | WaitlistDetails
    | ExportData
    | EraseData
    | RelayToCase
    | CancelCase
    | NewRequest
    | AppointmentAnswer
)


@dataclass(frozen=True, slots=True)
class FlowContext:
    """What the flow may ask of the outside world, injected so the flow stays pure and testable."""

    now: datetime
    new_reference: Callable[[], str]
    # The client's number as their channel knows it ("+" and digits: a WhatsApp ``wa_id``), or
    # None; offered as a button at the phone step. No channel is imported to know it.
    channel_phone: str | None = None
    # The service levels in force (read from the database once per batch by the engine).
    levels: Levels = Levels()
    # The client's channel ("webchat", "telegram", "whatsapp", "terminal"), for what depends on it
    # (a web chat client cannot be reached once the page is closed).
    channel: str | None = None
    # The public page where an optician asks to join the network (``/rejoindre``): the service's
    # public URL, or the bare path where none is set.
    join_url: str = "/rejoindre"

    @property
    def local_now(self) -> datetime:
        """The time in France, where the opticians are: "demain" is the French tomorrow."""
        return self.now.astimezone(SERVICE_TIME_ZONE)

    @property
    def today(self) -> date:
        return self.local_now.date()


@dataclass(slots=True)
class FlowResult:
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
