"""E-mail out, through SMTP (``aiosmtplib``): the one sender of e-mails, used by waitlist broadcasts
to reach web chat clients who left an address (they cannot be reached once the page is closed).

A failure says whether it is temporary (4xx replies, a connection refused or cut, a timeout: worth
another try) or permanent (5xx: the address or the message is refused). Nothing here logs an
address.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from bot.settings import Settings


class MailError(Exception):
    """An e-mail not sent; ``temporary``: another try may succeed. ``kind`` names the failure
    without personal data (e.g. ``smtp 451``, ``connect``)."""

    def __init__(self, kind: str, *, temporary: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.temporary = temporary


class Mailer:
    """Sends plain-text e-mails through the configured SMTP server."""

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.username = settings.smtp_username or None
        self.password = settings.smtp_password.get_secret_value() or None
        self.sender = settings.smtp_from
        self.starttls = settings.smtp_starttls
        self.timeout = settings.smtp_timeout

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    async def send(self, to: str, subject: str, body: str) -> None:
        """Send one e-mail; raises :class:`MailError`."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2].strip("> ") or None)
        message.set_content(body)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                use_tls=not self.starttls and self.port == 465,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            temporary = all(400 <= code < 500 for code in codes)
            raise MailError(f"smtp {codes[0] if codes else 550}", temporary=temporary) from None
        except aiosmtplib.SMTPResponseException as error:
            raise MailError(f"smtp {error.code}", temporary=400 <= error.code < 500) from None
        except aiosmtplib.SMTPTimeoutError:
            raise MailError("timeout", temporary=True) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError):
            raise MailError("connect", temporary=True) from None
        except aiosmtplib.SMTPException as error:
            raise MailError(type(error).__name__[:40], temporary=False) from None
