"""Conversation scripts: data files of what the client says and what the bot must answer.

user: mes lunettes sont cassées     the client types
press: accept                       the client presses the button of that value (last question)
file: prescription.jpg              the client sends a (generated) prescription image
contact: +33612345678               the channel shares the client's number
sticker                             the client sends content the bot cannot read
bot: urgency.question               the reply keys, in order ("bot:" alone: no reply)
says: Marie                         the last reply's text contains this
state: urgency / owner: queue       the stored conversation
case: need=broken mode=visit ...    the one case of the script's client has these fields
no case / waitlist: 1               counts ("waitlist: 1 department=29 reason=suspended": and the
                                    last entry's columns)
level: normal / level: suspended 75 an admin switches the service level (national, or a
                                    department's) before what follows
lang: en                            (first line) the client starts in English
clock: 2026-11-27 09:00             the service's clock moves to this Paris time (else: Thursday
                                    26 November 2026, 10:30 in Paris, tests/harness.py)

The opticians' side (home visits booked to the hour):
optician: Claire Martin 75          an optician (linked Telegram chat, available, kit valid, these
                                    departments) exists; the optician verbs below are theirs
dispatch                            an advisor takes the case and sends it to the opticians
optician press: accept              the optician presses that button on the last message of their
                                    chat that has it, through the Telegram channel's inbound:
                                    accept, decline, window 09, half_day 2026-11-27 pm,
                                    other_half_day, en_route, done, fail, absent, address, other
optician gets: appointment.proposed the keys of what the optician was sent by the last action
                                    (edits of a message included; "optician gets:" alone: nothing)
optician reads: 9h                  the last of those contains this
sweep                               dispatch's periodic sweep, once, at the script's clock (no-taker
                                    alerts, automatic offers, morning reminders)
appointment: status=confirmed hour=9   the case's appointment row (times in Paris: 2026-11-27 07:00)
After an optician's action, "dispatch" or "sweep", "bot:" lists what the client was sent by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).parent / "conversations"


@dataclass(frozen=True)
class Line:
    number: int
    verb: str
    argument: str


def parse(path: Path) -> list[Line]:
    lines: list[Line] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        verb, _, argument = stripped.partition(":")
        lines.append(Line(number, verb.strip(), argument.strip()))
    return lines


def scripts() -> list[Path]:
    return sorted(FOLDER.glob("*.chat"))
