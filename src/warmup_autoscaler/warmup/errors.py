"""The warmup job's failures, wrapped from smtplib/imaplib/socket at the mail boundary."""

from __future__ import annotations

from enum import StrEnum

from warmup_autoscaler.errors import AutoscalerError

__all__ = ["AccountError", "MailError", "MailFailure"]


class MailFailure(StrEnum):
    """What kind of failure: it decides the safety stop it counts towards."""

    AUTH = "auth"  # the server refused the username or password
    CONNECT = "connect"  # no connection, TLS failure, timeout, dropped connection
    REJECTED = "rejected"  # a 5xx for a recipient or the message: a bounce
    TEMPORARY = "temporary"  # a 4xx: try again later
    PROTOCOL = "protocol"  # the server answered something we cannot use


class MailError(AutoscalerError):
    """A mail server could not be used."""

    def __init__(self, kind: MailFailure, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class AccountError(AutoscalerError):
    """A mailbox account's settings are invalid; `problems` names each field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems) or "invalid mailbox account")
