"""The intake flow's transition table: the states and what moves between them (data only).

``flows/intake.py`` runs it with ``transitions``; ``flows/diagram.py`` draws it.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine

from flows.steps import STEPS

FINAL_STATES = ("handed_off", "ended")
STATES = ["greeting", *STEPS, *FINAL_STATES]

# Answer-taking steps that go straight back to the summary when the client is changing one field
# and everything the summary needs is already known.
_BACK_TO_SUMMARY = ("shipping_address", "visit_address", "visit_slot", "contact_name", "contact_phone")

# The service level (issue 15). The level a conversation goes through is the national one when it
# starts (``answers["level"]``; in *normal* service every need is an ordinary request, in *crisis*
# only emergencies); *suspended* asks the need, then offers the waitlist (the reason says which
# level will take it: "suspended" for an emergency, crisis on; "other" for a routine need). Until
# the address is known, the most open level in force anywhere is offered; the address's
# department's level then applies (a local lockdown, or a department stricter than the country).
_LEVEL: list[dict[str, Any]] = [
    *(
        {
            "trigger": need,
            "source": "need",
            "dest": "waitlist_offer",
            "conditions": "suspended_now",
            "after": "explain_suspended",
        }
        for need in ("broken", "lost", "unsuitable", "renewal", "lenses", "other")
    ),
    {
        "trigger": "given",
        "source": ["visit_address", "shipping_address"],
        "dest": "waitlist_offer",
        "conditions": "locked_out",
        "after": "explain_local",
    },
    {
        "trigger": "confirm",
        "source": "summary",
        "dest": "waitlist_offer",
        "conditions": "locked_out",
        "after": "explain_local",
    },
    # Normal service: a routine need is booked as an ordinary request, no urgency gate.
    *(
        {
            "trigger": need,
            "source": "need",
            "dest": "mode",
            "conditions": "in_normal",
            "after": "take_request",
        }
        for need in ("renewal", "lenses", "other")
    ),
    {
        "trigger": "no",
        "source": "urgency",
        "dest": "mode",
        "conditions": "in_normal",
        "after": "take_request",
    },
    {
        "trigger": "missing",
        "source": "prescription",
        "dest": "mode",
        "conditions": "in_normal",
        "after": "take_request",
    },
]

_FORWARD: list[dict[str, Any]] = [
    {"trigger": "begin", "source": "greeting", "dest": "need"},
    {"trigger": "broken", "source": "need", "dest": "urgency", "after": "record"},
    {"trigger": "lost", "source": "need", "dest": "urgency", "after": "record"},
    {
        "trigger": "unsuitable",
        "source": "need",
        "dest": "urgency",
        "conditions": "has_prescription",
        "after": "record",
    },
    {"trigger": "unsuitable", "source": "need", "dest": "prescription", "after": "record"},
    {"trigger": "other", "source": "need", "dest": "waitlist_offer", "after": "explain_other"},
    # In crisis, a renewal or contact lenses are "something else": the waitlist.
    {"trigger": "renewal", "source": "need", "dest": "waitlist_offer", "after": "explain_other"},
    {"trigger": "lenses", "source": "need", "dest": "waitlist_offer", "after": "explain_other"},
    {"trigger": "received", "source": "prescription", "dest": "urgency", "after": "receive"},
    {"trigger": "missing", "source": "prescription", "dest": "waitlist_offer", "after": "explain"},
    {"trigger": "yes", "source": "urgency", "dest": "priority", "after": "record"},
    {"trigger": "no", "source": "urgency", "dest": "waitlist_offer", "after": "explain"},
    {"trigger": "answered", "source": "priority", "dest": "mode", "after": "record"},
    {"trigger": "visit", "source": "mode", "dest": "visit_consent", "after": "record"},
    {"trigger": "shipment", "source": "mode", "dest": "shipping_address", "after": "record"},
    {"trigger": "yes", "source": "visit_consent", "dest": "visit_address", "after": "consent"},
    {
        "trigger": "no",
        "source": "visit_consent",
        "dest": "shipping_address",
        "after": "refuse_visit",
    },
    {"trigger": "given", "source": "visit_address", "dest": "visit_slot", "after": "record"},
    {"trigger": "given", "source": "visit_slot", "dest": "contact_name", "after": "record"},
    {"trigger": "given", "source": "shipping_address", "dest": "contact_name", "after": "record"},
    {"trigger": "given", "source": "contact_name", "dest": "contact_phone", "after": "record"},
    {"trigger": "given", "source": "contact_phone", "dest": "insurance", "after": "record"},
    # The optional insurance question: a name asks for the card's photo; a photo is enough.
    {"trigger": "given", "source": "insurance", "dest": "insurance_card", "after": "record"},
    {"trigger": "named", "source": "insurance", "dest": "summary", "after": "record"},
    {"trigger": "none", "source": "insurance", "dest": "summary", "after": "record"},
    {"trigger": "skip", "source": "insurance", "dest": "summary", "after": "record"},
    {"trigger": "received", "source": "insurance", "dest": "summary", "after": "receive_card"},
    {"trigger": "received", "source": "insurance_card", "dest": "summary", "after": "receive_card"},
    {"trigger": "skip", "source": "insurance_card", "dest": "summary"},
    # At the card's step, the client corrects the insurance itself.
    {"trigger": "none", "source": "insurance_card", "dest": "summary", "after": "record"},
    {"trigger": "given", "source": "insurance_card", "dest": "insurance_card", "after": "record"},
    {"trigger": "confirm", "source": "summary", "dest": "handed_off", "after": "create_case"},
    {"trigger": "change_mode", "source": "summary", "dest": "mode", "after": "edit"},
    {
        "trigger": "change_address",
        "source": "summary",
        "dest": "visit_address",
        "conditions": "is_visit",
        "after": "edit",
    },
    {"trigger": "change_address", "source": "summary", "dest": "shipping_address", "after": "edit"},
    {
        "trigger": "change_slot",
        "source": "summary",
        "dest": "visit_slot",
        "conditions": "is_visit",
        "after": "edit",
    },
    {"trigger": "change_name", "source": "summary", "dest": "contact_name", "after": "edit"},
    {"trigger": "change_phone", "source": "summary", "dest": "contact_phone", "after": "edit"},
    {"trigger": "change_insurance", "source": "summary", "dest": "insurance", "after": "edit"},
    # Joining the waitlist: where the client waits (unless the address said it), then, for a web
    # chat client only, an e-mail address or a phone number to be told by. Both may be skipped.
    {
        "trigger": "join",
        "source": "waitlist_offer",
        "dest": "waitlist_department",
        "conditions": "department_unknown",
        "after": "join_waitlist",
    },
    {
        "trigger": "join",
        "source": "waitlist_offer",
        "dest": "waitlist_contact",
        "conditions": "needs_contact",
        "after": "join_waitlist",
    },
    {"trigger": "join", "source": "waitlist_offer", "dest": "ended", "after": "join_waitlist"},
    {
        "trigger": "given",
        "source": "waitlist_department",
        "dest": "waitlist_contact",
        "conditions": "needs_contact",
        "after": "waitlist_department",
    },
    {"trigger": "given", "source": "waitlist_department", "dest": "ended", "after": "waitlist_department"},
    {
        "trigger": "skip",
        "source": "waitlist_department",
        "dest": "waitlist_contact",
        "conditions": "needs_contact",
    },
    {"trigger": "skip", "source": "waitlist_department", "dest": "ended", "after": "waitlist_done"},
    {"trigger": "given", "source": "waitlist_contact", "dest": "ended", "after": "waitlist_contact"},
    {"trigger": "skip", "source": "waitlist_contact", "dest": "ended", "after": "waitlist_done"},
    {"trigger": "decline", "source": "waitlist_offer", "dest": "ended", "after": "decline"},
    {"trigger": "erase", "source": "confirm_delete", "dest": "ended", "after": "erase"},
    {"trigger": "keep", "source": "confirm_delete", "dest": None, "after": "resume"},
]

_SHORTCUTS: list[dict[str, Any]] = [
    {
        "trigger": t["trigger"],
        "source": t["source"],
        "dest": "summary",
        "conditions": "ready_for_summary",
        "after": t["after"],
    }
    for t in _FORWARD
    if t["source"] in _BACK_TO_SUMMARY
    or (t["source"] in ("mode", "visit_consent") and t["dest"] == "shipping_address")
]

_GLOBAL: list[dict[str, Any]] = [
    {"trigger": "restart", "source": "*", "dest": "need", "after": "restart"},
    {"trigger": "cancel", "source": "*", "dest": "ended", "after": "cancel"},
    {"trigger": "advisor", "source": "*", "dest": "handed_off", "after": "call_advisor"},
    {"trigger": "delete_data", "source": "*", "dest": "confirm_delete", "after": "ask_delete"},
]

# Shortcuts are listed before the ordinary transitions they override: transitions tries them in order.
TRANSITIONS: list[dict[str, Any]] = _LEVEL + _SHORTCUTS + _FORWARD + _GLOBAL


def build_machine() -> Machine:
    """The one intake machine of a process; models are passed to its events per message."""
    return Machine(
        model=None,
        states=STATES,
        transitions=TRANSITIONS,
        initial="greeting",
        auto_transitions=False,
        send_event=True,
    )


FIELD_OF_STEP = {
    "need": "need",
    "prescription": "prescription",
    "urgency": "urgent",
    "priority": "priority",
    "mode": "mode",
    "visit_consent": "consent",
    "visit_address": "address",
    "visit_slot": "slot",
    "shipping_address": "address",
    "contact_name": "name",
    "contact_phone": "phone",
    "insurance": "insurance",
    "insurance_card": "insurance",
}
