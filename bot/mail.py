"""E-mail out, through SMTP (``aiosmtplib``): the one sender of e-mails, used by waitlist broadcasts
to reach web chat clients who left an address (they cannot be reached once the page is closed).

A failure says whether another try is safe and may succeed (``temporary``): an explicit 4xx reply,
or a connection refused, cut or timed out *before* the message's content was handed over (DATA).
A timeout or a cut connection while the content is sent or its answer awaited is ambiguous: the
server may have taken the message, so it is never retried (an e-mail twice is the worse fault);
5xx is refused for good. Nothing here logs an address.
"""

from __future__ import annotations

import contextlib
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import aiosmtplib
from aiosmtplib.email import flatten_message

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
        content = flatten_message(message)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            use_tls=not self.starttls and self.port == 465,
            timeout=self.timeout,
        )
        try:
            try:  # nothing handed over yet: any failure but a 5xx is worth another try
                await client.connect()
                await client.mail(parseaddr(self.sender)[1])
                await client.rcpt(to)
            except aiosmtplib.SMTPResponseException as error:
                raise MailError(f"smtp {error.code}", temporary=400 <= error.code < 500) from None
            except (aiosmtplib.SMTPException, OSError) as error:
                kind = "timeout" if isinstance(error, TimeoutError) else "connect"
                raise MailError(kind, temporary=True) from None
            try:  # the content: a definite answer, or nobody knows whether it went
                await client.data(content)
            except aiosmtplib.SMTPResponseException as error:
                raise MailError(f"smtp {error.code}", temporary=400 <= error.code < 500) from None
            except (aiosmtplib.SMTPException, OSError) as error:
                kind = "timeout after data" if isinstance(error, TimeoutError) else "cut after data"
                raise MailError(kind, temporary=False) from None
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()  # taken: a polite goodbye, its failure changes nothing
        finally:
            client.close()
