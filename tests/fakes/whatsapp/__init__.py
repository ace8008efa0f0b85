"""A fake WhatsApp Cloud API (Graph API) server for tests (``FakeWhatsApp``, see ``fake.py``), in modules
by concern: ``api`` (ids, limits, error codes, signatures), ``records``, ``checks`` (what a send must
respect), ``state`` (clock, users, windows, media), ``webhooks`` (building and pushing them), ``users``
(what the test's users send)."""

from tests.fakes.whatsapp.api import (
    APP_SECRET,
    DELIVERY_STATUSES,
    DISPLAY_PHONE_NUMBER,
    ERRORS,
    PARAM_FORMAT,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    VERSION,
    WABA_ID,
    WINDOW_SECONDS,
    GraphError,
    encode_body,
    new_wamid,
    sign,
)
from tests.fakes.whatsapp.fake import FakeWhatsApp
from tests.fakes.whatsapp.records import ApiCall, Inbound, Media, SentMessage, Webhook, WebhookDeliveryError

__all__ = [
    "APP_SECRET",
    "DELIVERY_STATUSES",
    "DISPLAY_PHONE_NUMBER",
    "ERRORS",
    "PARAM_FORMAT",
    "PHONE_NUMBER_ID",
    "TOKEN",
    "VERIFY_TOKEN",
    "VERSION",
    "WABA_ID",
    "WINDOW_SECONDS",
    "ApiCall",
    "FakeWhatsApp",
    "GraphError",
    "Inbound",
    "Media",
    "SentMessage",
    "Webhook",
    "WebhookDeliveryError",
    "encode_body",
    "new_wamid",
    "sign",
]
