"""Sending over SMTP with the standard library's smtplib, one session per cycle, run in a thread.

Why smtplib (and imaplib) rather than aiosmtplib/aioimaplib: they are the standard library's,
well kept, and speak everything the job needs (SSL, STARTTLS, AUTH, per-recipient replies); a
cycle is a short session per mailbox, and the worker already runs its blocking calls in a
thread pool sized to AUTO_SCALER_WORKER_CONCURRENCY, so asyncio clients would add a dependency
without adding throughput. Every failure leaves as `MailError` with its kind; no message ever
contains a password.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType

from warmup_autoscaler.warmup.errors import MailError, MailFailure

__all__ = ["ServerLogin", "SmtpSession", "smtp_failure"]


@dataclass(frozen=True, kw_only=True)
class ServerLogin:
    host: str
    port: int
    security: str  # ssl | starttls | none
    username: str
    password: str = field(repr=False)
    timeout_s: float = 30.0

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"[:300]


def smtp_failure(exc: BaseException, login: ServerLogin, doing: str) -> MailError:
    """The kind of an smtplib/socket failure, and a one-line message naming the server."""
    where = f"SMTP {login.where}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailError(
            MailFailure.AUTH,
            f"{where} refused the login of {login.username}: {_reply(exc.smtp_code, exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        kind = MailFailure.REJECTED if code >= 500 else MailFailure.TEMPORARY
        return MailError(kind, f"{where} refused the recipient: {_reply(code, text)}")
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(
        exc, smtplib.SMTPServerDisconnected
    ):
        kind = MailFailure.REJECTED if exc.smtp_code >= 500 else MailFailure.TEMPORARY
        if doing != "sending":
            kind = MailFailure.PROTOCOL if exc.smtp_code >= 500 else MailFailure.TEMPORARY
        return MailError(
            kind, f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)} when {doing}"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailError(MailFailure.PROTOCOL, f"{where} does not support {doing}: {exc}")
    if isinstance(exc, ssl.SSLError):
        return MailError(MailFailure.CONNECT, f"{where}: TLS failed ({exc.reason or exc})")
    if isinstance(exc, (OSError, smtplib.SMTPException)):
        reason = (
            exc.strerror
            if isinstance(exc, OSError) and exc.strerror
            else str(exc) or type(exc).__name__
        )
        return MailError(MailFailure.CONNECT, f"cannot reach {where} ({reason}) when {doing}")
    return MailError(MailFailure.PROTOCOL, f"{where} failed when {doing}: {type(exc).__name__}")


class SmtpSession:
    """`with SmtpSession(login) as s: s.send(msg)`: connects, secures, authenticates."""

    def __init__(self, login: ServerLogin) -> None:
        self.login = login
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSession:
        login = self.login
        doing = "connecting"
        try:
            if login.security == "ssl":
                context = ssl.create_default_context()
                self._smtp = smtplib.SMTP_SSL(
                    login.host, login.port, timeout=login.timeout_s, context=context
                )
            else:
                self._smtp = smtplib.SMTP(login.host, login.port, timeout=login.timeout_s)
            self._smtp.ehlo()
            if login.security == "starttls":
                doing = "starting TLS"
                self._smtp.starttls(context=ssl.create_default_context())
                self._smtp.ehlo()
            doing = "logging in"
            self._smtp.login(login.username, login.password)
        except Exception as exc:
            self._close()
            raise smtp_failure(exc, login, doing) from exc
        return self

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Send to one recipient; a refusal raises `MailError` (REJECTED for a 5xx)."""
        assert self._smtp is not None, "use SmtpSession as a context manager"
        try:
            self._smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except Exception as exc:
            error = smtp_failure(exc, self.login, "sending")
            if error.kind is not MailFailure.CONNECT:
                self._reset()
            raise error from exc

    def _reset(self) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            assert self._smtp is not None
            self._smtp.rset()

    def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
