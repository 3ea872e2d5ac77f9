"""Real mail servers on loopback for the warmup tests: Dovecot (IMAP, Maildir, passwd-file
users, LMTP with a Sieve rule) and an aiosmtpd SMTP front that checks SMTP AUTH and hands each
message to Dovecot over LMTP.

The front plays the spam filter: it stamps `X-Spam-Flag: YES` on a fixed share of the messages
(drawn from the Message-ID), and Dovecot's global Sieve script files those into Junk. A front can
also answer 550 to every recipient (a server that bounces everything). Dovecot runs as root with
its own config in a temp dir (mail owned by `nobody`), or as the current user when not root.
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["Dovecot", "MailServers", "SmtpFront", "find_dovecot", "free_port", "mailbox_messages"]

logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation chatter

SIEVE = """require ["fileinto"];
if header :is "X-Spam-Flag" "YES" { fileinto "Junk"; stop; }
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_dovecot() -> tuple[str | None, str]:
    """(dovecot binary, "") or (None, why not)."""
    for path in ("/usr/sbin/dovecot", shutil.which("dovecot") or ""):
        if path and os.access(path, os.X_OK):
            if not Path("/usr/lib/dovecot/lmtp").exists():
                return None, "Dovecot's LMTP server is missing (apt-get install dovecot-lmtpd)"
            if not shutil.which("sievec"):
                return None, "Pigeonhole Sieve is missing (apt-get install dovecot-sieve)"
            return path, ""
    return (
        None,
        "Dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd dovecot-sieve)",
    )


class Dovecot:
    """One Dovecot instance with its own config, users file and Maildirs under `root`."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary, self.root = binary, root
        self.imap_port, self.lmtp_port = free_port(), free_port()
        self.users = root / "users"
        self.conf = root / "dovecot.conf"
        self.passwords: dict[str, str] = {}

    def start(self) -> None:
        root = self.root
        for sub in ("run", "state", "mail", "sieve"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.users.write_text("")
        (root / "sieve" / "before.sieve").write_text(SIEVE)
        subprocess.run(["sievec", str(root / "sieve" / "before.sieve")], check=True,
                       capture_output=True)  # fmt: skip
        if os.geteuid() == 0:
            root.chmod(0o755)
            shutil.chown(root / "mail", "nobody", "nogroup")
            internal, login, mail_user, mail_group = "dovecot", "dovenull", "nobody", "nogroup"
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            internal = login = mail_user = me
            mail_group = str(os.getegid())
        self.conf.write_text(textwrap.dedent(f"""\
            base_dir = {root}/run
            state_dir = {root}/state
            log_path = {root}/dovecot.log
            instance_name = warmup-test-{self.imap_port}
            protocols = imap lmtp
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            auth_cache_size = 0
            default_internal_user = {internal}
            default_internal_group = {internal}
            default_login_user = {login}
            first_valid_uid = 1
            first_valid_gid = 1
            mail_location = maildir:{root}/mail/%d/%n
            passdb {{
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {self.users}
            }}
            userdb {{
              driver = static
              args = uid={mail_user} gid={mail_group} home={root}/mail/%d/%n
            }}
            service imap-login {{
              inet_listener imap {{
                address = 127.0.0.1
                port = {self.imap_port}
              }}
              inet_listener imaps {{
                port = 0
              }}
            }}
            service lmtp {{
              inet_listener lmtp {{
                address = 127.0.0.1
                port = {self.lmtp_port}
              }}
            }}
            protocol lmtp {{
              mail_plugins = sieve
            }}
            plugin {{
              sieve_before = {root}/sieve/before.sieve
            }}
            namespace inbox {{
              inbox = yes
              separator = /
              mailbox Junk {{
                special_use = \\Junk
                auto = subscribe
              }}
              mailbox Sent {{
                special_use = \\Sent
                auto = subscribe
              }}
            }}
            """))  # fmt: skip
        with (self.root / "start.log").open("wb") as out:  # the daemon keeps a pipe open
            subprocess.run([self.binary, "-c", str(self.conf)], check=True, stdin=subprocess.DEVNULL,
                           stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=2).logout()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Dovecot did not start: {self.log_tail()}") from None
                time.sleep(0.05)

    def log_tail(self) -> str:
        log = self.root / "dovecot.log"
        return log.read_text()[-2000:] if log.exists() else "(no log)"

    def add_user(self, email: str, password: str) -> None:
        self.add_users([(email, password)])

    def add_users(self, users: list[tuple[str, str]]) -> None:
        """Append users, then wait until Dovecot knows them: it re-reads the passwd-file at most
        once a second, so a lookup right after a change may still miss them."""
        with self.users.open("a") as f:
            for email, password in users:
                self.passwords[email] = password
                f.write(f"{email}:{{PLAIN}}{password}\n")
        email, password = users[-1]
        deadline = time.monotonic() + 10
        while True:
            imap = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=5)
            try:
                imap.login(email, password)
                return
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            finally:
                imap.shutdown()

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


@dataclass
class _Handler:
    dovecot: Dovecot
    junk_percent: int = 0
    reject_all: bool = False
    delivered: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self.reject_all or address not in self.dovecot.passwords:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message_id = BytesParser().parsebytes(content, headersonly=True).get("Message-ID", "")
        digest = hashlib.blake2b(str(message_id).encode(), digest_size=4).digest()
        if int.from_bytes(digest, "big") % 100 < self.junk_percent:
            content = b"X-Spam-Flag: YES\r\n" + content
        with smtplib.LMTP("127.0.0.1", self.dovecot.lmtp_port, timeout=30) as lmtp:
            lmtp.sendmail(str(envelope.mail_from), list(envelope.rcpt_tos), content)
        self.delivered.append(str(message_id))
        return "250 Message accepted for delivery"


class SmtpFront:
    """An SMTP server on 127.0.0.1 that checks AUTH against Dovecot's users and delivers by LMTP."""

    def __init__(self, dovecot: Dovecot, *, junk_percent: int = 0, reject_all: bool = False):
        self.handler = _Handler(dovecot, junk_percent=junk_percent, reject_all=reject_all)
        self.port = free_port()

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            if isinstance(data, LoginPassword):
                user, password = data.login.decode(), data.password.decode()
                if dovecot.passwords.get(user) == password:
                    return AuthResult(success=True)
            return AuthResult(success=False, handled=False)

        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, authenticator=authenticate,
            auth_require_tls=False, auth_required=False,
        )  # fmt: skip

    def start(self) -> SmtpFront:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class MailServers:
    dovecot: Dovecot
    smtp: SmtpFront

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    @property
    def smtp_port(self) -> int:
        return self.smtp.port


def mailbox_messages(port: int, user: str, password: str, folder: str) -> list[Message]:
    """Every message of one folder, whole, read over IMAP (the test's own reading)."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        imap.login(user, password)
        status, _ = imap.select(f'"{folder}"', readonly=True)
        if status != "OK":
            return []
        _, data = imap.uid("SEARCH", "ALL")
        uids = data[0].decode().split() if data and data[0] else []
        found = []
        for uid in uids:
            _, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            for part in parts:
                if isinstance(part, tuple):
                    found.append(BytesParser().parsebytes(part[1]))
        return found
    finally:
        imap.logout()


def start_servers(*, junk_percent: int = 30) -> Iterator[MailServers]:
    """Dovecot plus a front, stopped afterwards; fails (or the caller skips) when unavailable."""
    binary, why = find_dovecot()
    if binary is None:
        raise FileNotFoundError(why)
    root = Path(tempfile.mkdtemp(prefix="warmup-mail-"))
    dovecot = Dovecot(binary, root)
    try:
        dovecot.start()
        front = SmtpFront(dovecot, junk_percent=junk_percent).start()
        try:
            yield MailServers(dovecot=dovecot, smtp=front)
        finally:
            front.stop()
    finally:
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)
