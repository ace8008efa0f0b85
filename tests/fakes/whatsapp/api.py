"""The Graph API's words for WhatsApp: the ids of the fake's business number, the limits of each message,
Meta's error codes with their titles and HTTP statuses, the error answer, and how message ids, webhook
bodies and their signatures are made."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
from typing import Any

from tests.fakes.server import FakeApiError, Json

TOKEN = "EAAJfakeTOKENforTESTS0ptibotWhatsAppCloudApiZZ0123456789abcdefABCDEF"
APP_SECRET = "5f0c2e8a9b7d4c3e1f2a6b8c0d9e7f1a"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
VERIFY_TOKEN = "optibot-verify-token-7c1e"
DISPLAY_PHONE_NUMBER = "33100000000"
VERSION = "v25.0"
DEFAULT_TEMPLATES: dict[tuple[str, str], int] = {("optibot_suivi", "fr"): 1, ("optibot_follow_up", "en"): 1}

WINDOW_SECONDS = 24 * 3600
#: the statuses pushed after an accepted send in the window, by default
DELIVERY_STATUSES = ("sent", "delivered")
PAIR_RATE_SECONDS = 6.0
ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

MAX_TEXT = 4096
MAX_BUTTON_BODY = 1024
MAX_LIST_BODY = 4096
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_BUTTONS = 3
MAX_BUTTON_ID = 256
MAX_BUTTON_TITLE = 20
MAX_LIST_BUTTON = 20
MAX_SECTIONS = 10
MAX_SECTION_TITLE = 24
MAX_ROWS = 10
MAX_ROW_ID = 200
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_CAPTION = 1024
MAX_TEMPLATE_PARAM = 1024

#: Meta's title and HTTP status for each error code (the title goes into ``message``: "(#code) title")
ERRORS: dict[int, tuple[str, int]] = {
    100: ("Invalid parameter", 400),
    190: ("Invalid OAuth access token - Cannot parse access token", 401),
    130429: ("Rate limit hit", 429),
    131000: ("Something went wrong", 500),
    131005: ("Access denied", 403),
    131008: ("Required parameter is missing", 400),
    131009: ("Parameter value is not valid", 400),
    131016: ("Service unavailable", 503),
    131026: ("Message undeliverable", 400),
    131047: ("Re-engagement message", 400),
    131053: ("Media upload error", 400),
    131056: ("(Business Account, Consumer Account) pair rate limit hit", 400),
    132000: ("Number of parameters does not match the expected number of params", 400),
    132001: ("Template name does not exist in the translation", 404),
    132005: ("Template Hydrated Text Too Long", 400),
    132012: ("Parameter format does not match format in the created template", 400),
    132018: ("There was an issue with the parameters in your template.", 400),
}
#: the ``details`` Meta gives when nothing more precise is known
DEFAULT_DETAILS: dict[int, str] = {
    130429: "Cloud API message throughput has been reached.",
    131000: "Message failed to send due to an unknown error.",
    131016: "A service is temporarily unavailable.",
    131026: "Message Undeliverable.",
    131047: (
        "Message failed to send because more than 24 hours have passed since the customer last replied "
        "to this number."
    ),
    131056: (
        "Message failed to send because there were too many messages sent from this phone number to the "
        "same phone number in a short period of time."
    ),
}
#: Graph's own errors, which carry no WhatsApp ``error_data``
GRAPH_ONLY_CODES = frozenset({190, 2500})
PARAM_FORMAT = "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})
SEND_TYPES = frozenset({"text", "interactive", "template", "reaction", "location", *MEDIA_TYPES})

PHONE_DIGITS = re.compile(r"\+?\d{6,15}")
BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
_TRACE_ALPHABET = string.ascii_letters + string.digits + "_-"


class GraphError(FakeApiError):
    """An error answer of the Graph API (``payload()`` is the JSON body, ``status`` the HTTP status)."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        status: int | None = None,
        message: str | None = None,
        error_type: str = "OAuthException",
        subcode: int | None = None,
    ) -> None:
        title, default_status = ERRORS.get(code, ("Unknown error", 400))
        self.code = code
        self.title = title
        self.details = details if details is not None else DEFAULT_DETAILS.get(code, title)
        self.status = status or default_status
        self.message = message or (title if code == 190 else f"(#{code}) {title}")
        self.error_type = error_type
        self.subcode = subcode
        super().__init__(f"{self.message}: {self.details}")

    def payload(self) -> Json:
        error: Json = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.error_type == "OAuthException" and self.code not in GRAPH_ONLY_CODES:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(23))
        return {"error": error}

    def note(self, record: Any) -> None:
        record.status, record.error_code = self.status, self.code

    def webhook_error(self) -> Json:
        """The same error as it appears in a ``failed`` status webhook."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.title,
            "error_data": {"details": self.details},
            "href": ERROR_CODES_URL,
        }


def missing(parameter: str) -> GraphError:
    return GraphError(131008, f"The parameter {parameter} is required.")


def invalid(details: str) -> GraphError:
    return GraphError(131009, details)


def length_error(what: str, low: int, high: int) -> GraphError:
    return invalid(f"{what} length invalid. Min length: {low}, Max length: {high}")


def unknown_object(object_id: str, verb: str) -> GraphError:
    """Graph's answer for an id it does not know (or may not reach)."""
    return GraphError(
        100,
        message=(
            f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be loaded due "
            "to missing permissions, or does not support this operation. Please read the Graph API "
            "documentation at https://developers.facebook.com/docs/graph-api"
        ),
        error_type="GraphMethodException",
        subcode=33,
    )


def new_wamid(phone: str = "") -> str:
    """A message id shaped like Meta's (``wamid.`` + base64 of an opaque binary key)."""
    key = phone.encode() or secrets.token_hex(6).encode()
    raw = bytes([0x18, len(key)]) + key + b"\x15\x02\x00\x12\x18\x14" + secrets.token_hex(10).upper().encode()
    return "wamid." + base64.b64encode(raw + b"\x00").decode()


def encode_body(payload: Json) -> bytes:
    """The bytes Meta would send: compact JSON, non-ASCII as ``\\uXXXX`` and ``/`` as ``\\/``."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
