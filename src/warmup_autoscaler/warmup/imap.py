"""Reading and tidying a mailbox over IMAP with the standard library's imaplib (see `smtp` for
why), one session per cycle, run in a thread. Pool mail is found with `UID SEARCH HEADER`, the
spam folder by its `\\Junk` special-use flag or a common name; moves use MOVE when the server
has it, COPY + delete otherwise. Failures leave as `MailError`; no message contains a password.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from types import TracebackType

from warmup_autoscaler.warmup.errors import MailError, MailFailure
from warmup_autoscaler.warmup.smtp import ServerLogin

__all__ = ["JUNK_NAMES", "Fetched", "ImapSession", "find_junk", "parse_list_line"]

JUNK_NAMES = ("junk", "spam", "junk e-mail", "junk email", "bulk mail", "[gmail]/spam")
_LIST = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<sep>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')
_UID = re.compile(rb"UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_DATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_HEADERS = "MESSAGE-ID X-WARMUP-ID SUBJECT FROM REFERENCES IN-REPLY-TO"


@dataclass(frozen=True, kw_only=True)
class Fetched:
    uid: str
    message_id: str
    subject: str
    sender: str
    references: str
    flags: frozenset[str]
    internal_date: str


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_list_line(line: bytes) -> tuple[str, frozenset[str]] | None:
    """(folder name, flags) of one LIST answer line, or None if it is not one."""
    found = _LIST.match(line)
    if not found:
        return None
    name = found.group("name").decode(errors="replace")
    if name.startswith('"') and name.endswith('"'):
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    flags = frozenset(f.lower() for f in found.group("flags").decode().split())
    return name, flags


def find_junk(folders: Sequence[tuple[str, frozenset[str]]]) -> str | None:
    """The spam folder: the one flagged `\\Junk`, else the first with a common spam name."""
    for name, flags in folders:
        if "\\junk" in flags:
            return name
    by_name = {name.lower(): name for name, _ in folders}
    for candidate in JUNK_NAMES:
        if candidate in by_name:
            return by_name[candidate]
    for name, _ in folders:
        leaf = re.split(r"[/.]", name)[-1].lower()
        if leaf in ("junk", "spam"):
            return name
    return None


class ImapSession:
    """`with ImapSession(login) as s: ...`: connected and logged in."""

    def __init__(self, login: ServerLogin) -> None:
        self.login = login
        self._imap: imaplib.IMAP4 | None = None
        self.capabilities: frozenset[str] = frozenset()

    def _fail(self, exc: BaseException, doing: str) -> MailError:
        where = f"IMAP {self.login.where}"
        if isinstance(exc, (imaplib.IMAP4.abort, OSError, EOFError)):
            if isinstance(exc, ssl.SSLError):
                return MailError(MailFailure.CONNECT, f"{where}: TLS failed ({exc.reason or exc})")
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return MailError(MailFailure.CONNECT, f"cannot reach {where} ({reason}) when {doing}")
        text = exc.args[0] if exc.args else exc
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        if doing == "logging in":
            return MailError(
                MailFailure.AUTH, f"{where} refused the login of {self.login.username}: {text}"
            )
        return MailError(MailFailure.PROTOCOL, f"{where} failed when {doing}: {text}"[:400])

    def __enter__(self) -> ImapSession:
        login, doing = self.login, "connecting"
        try:
            if login.security == "ssl":
                self._imap = imaplib.IMAP4_SSL(
                    login.host, login.port, ssl_context=ssl.create_default_context(),
                    timeout=login.timeout_s,
                )  # fmt: skip
            else:
                self._imap = imaplib.IMAP4(login.host, login.port, timeout=login.timeout_s)
                if login.security == "starttls":
                    doing = "starting TLS"
                    self._imap.starttls(ssl_context=ssl.create_default_context())
            doing = "logging in"
            self._imap.login(login.username, login.password)
            self.capabilities = frozenset(c.upper() for c in self._imap.capabilities)
        except Exception as exc:
            self._close()
            raise self._fail(exc, doing) from exc
        return self

    def _run(self, doing: str, command: str, *args: str) -> list[object]:
        assert self._imap is not None, "use ImapSession as a context manager"
        try:
            if command == "UID":
                status, data = self._imap.uid(*args)
            else:
                status, data = getattr(self._imap, command.lower())(*args)
        except Exception as exc:
            raise self._fail(exc, doing) from exc
        if status != "OK":
            raise self._fail(imaplib.IMAP4.error(data[0] if data else status), doing)
        return list(data)

    def folders(self) -> list[tuple[str, frozenset[str]]]:
        lines = self._run("listing folders", "LIST", '""', "*")
        return [p for line in lines if isinstance(line, bytes) and (p := parse_list_line(line))]

    def select(self, folder: str) -> None:
        self._run(f"opening {folder}", "SELECT", _quote(folder))

    def ensure_folder(self, folder: str) -> None:
        if folder not in {name for name, _ in self.folders()}:
            self._run(f"creating {folder}", "CREATE", _quote(folder))

    def search(self, *criteria: str) -> list[str]:
        """UIDs in the selected folder matching `criteria` (IMAP SEARCH keys)."""
        data = self._run("searching", "UID", "SEARCH", *criteria)
        first = data[0] if data else b""
        return first.decode().split() if isinstance(first, bytes) else []

    def search_header(self, header: str, value: str = "") -> list[str]:
        return self.search("HEADER", header, _quote(value))

    def fetch(self, uids: Sequence[str]) -> list[Fetched]:
        if not uids:
            return []
        items = f"(UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS ({_HEADERS})])"
        data = self._run("reading headers", "UID", "FETCH", ",".join(uids), items)
        parser = BytesHeaderParser()
        found: list[Fetched] = []
        for part in data:
            if not isinstance(part, tuple):
                continue
            meta, raw = part
            uid, flags, date = _UID.search(meta), _FLAGS.search(meta), _DATE.search(meta)
            if uid is None:
                continue
            headers = parser.parsebytes(raw)
            found.append(
                Fetched(
                    uid=uid.group(1).decode(),
                    message_id=" ".join(str(headers.get("Message-ID", "")).split()),
                    subject=" ".join(str(headers.get("Subject", "")).split()),
                    sender=str(headers.get("From", "")),
                    references=" ".join(str(headers.get("References", "")).split()),
                    flags=frozenset(flags.group(1).decode().split()) if flags else frozenset(),
                    internal_date=date.group(1).decode() if date else "",
                )
            )
        return found

    def add_flags(self, uids: Sequence[str], flags: str) -> None:
        if uids:
            self._run("setting flags", "UID", "STORE", ",".join(uids), "+FLAGS.SILENT", flags)

    def move(self, uids: Sequence[str], folder: str) -> None:
        if not uids:
            return
        joined = ",".join(uids)
        if "MOVE" in self.capabilities:
            self._run(f"moving to {folder}", "UID", "MOVE", joined, _quote(folder))
            return
        self._run(f"copying to {folder}", "UID", "COPY", joined, _quote(folder))
        self.delete(uids)

    def delete(self, uids: Sequence[str]) -> None:
        if not uids:
            return
        self.add_flags(uids, "(\\Deleted)")
        if "UIDPLUS" in self.capabilities:
            self._run("expunging", "UID", "EXPUNGE", ",".join(uids))
        else:
            self._run("expunging", "EXPUNGE")

    def _close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        with contextlib.suppress(imaplib.IMAP4.error, OSError, EOFError):
            imap.logout()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
