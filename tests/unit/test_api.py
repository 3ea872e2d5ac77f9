"""The HTTP API in-process (FastAPI's TestClient), with the controller on in-memory fakes."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest

from tests.unit.test_controller import FakeCounter, FakeJournal, FakePlatform, make
from warmup_autoscaler.api import create_app
from warmup_autoscaler.errors import CountError

TRIGGER = "/api/auto-scaler/trigger"
PAUSE = "/api/auto-scaler/pause"
TOKEN = "unit-test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Client:
    """Requests to the ASGI app in-process, on one event loop (as the daemon runs it)."""

    def __init__(self, app) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    def get(self, url, **kw):
        return self.loop.run_until_complete(self.client.get(url, **kw))

    def post(self, url, **kw):
        return self.loop.run_until_complete(self.client.post(url, **kw))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def client_for():
    clients = []

    def build(counter=None, platform=None, **env):
        env.setdefault("admin_token", TOKEN)
        controller = make(
            counter or FakeCounter(850), platform or FakePlatform(1), FakeJournal(), **env
        )
        clients.append(Client(create_app(controller)))
        return clients[-1]

    yield build
    for client in clients:
        client.close()


def test_status_has_every_seed_field(client_for):
    """Status carries every field of the seed's example with the same names, plus our additions."""
    client = client_for(counter=FakeCounter(1500), platform=FakePlatform(2))
    client.post(TRIGGER, headers=AUTH)
    body = client.get("/api/auto-scaler/status").json()
    seed_fields = {
        "enabled",
        "currentWorkers",
        "mailboxCount",
        "utilizationPercent",
        "optimalWorkers",
        "canScaleUp",
        "canScaleDown",
        "config",
    }
    assert seed_fields | {"lastCheckAt", "lastDecision", "lastError"} <= set(body)
    assert {
        "enabled",
        "checkIntervalMs",
        "mailboxesPerWorker",
        "minWorkers",
        "maxWorkers",
        "scaleUpThreshold",
        "scaleDownThreshold",
        "platform",
    } <= set(body["config"])
    assert (body["currentWorkers"], body["mailboxCount"]) == (2, 1500)
    assert (body["utilizationPercent"], body["optimalWorkers"]) == (75.0, 2)
    assert body["canScaleUp"] is True and body["canScaleDown"] is True


def test_status_before_any_check_is_empty_but_valid(client_for):
    """Before the first check the counts are null and nothing claims it can scale."""
    body = client_for().get("/api/auto-scaler/status").json()
    assert body["currentWorkers"] is None and body["lastDecision"] is None
    assert body["canScaleUp"] is False and body["canScaleDown"] is False


def test_trigger_answers_the_seed_shape(client_for):
    """The seed's trigger example: 850 mailboxes on 1 worker -> scale-up to 2."""
    response = client_for().post(TRIGGER, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "decision": {
            "action": "scale-up",
            "currentWorkers": 1,
            "targetWorkers": 2,
            "reason": "High utilization (85.0%) - adding worker",
            "mailboxCount": 850,
            "utilizationPercent": 85.0,
            "optimalWorkers": 2,
        },
        "executed": True,
        "message": "Scaling check complete: scale-up",
    }


@pytest.mark.parametrize(
    ("headers", "code", "detail"),
    [
        ({}, 401, "Missing or malformed Authorization header"),
        ({"Authorization": TOKEN}, 401, "Missing or malformed Authorization header"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "Missing or malformed Authorization header"),
        ({"Authorization": "Bearer wrong"}, 403, "Invalid admin token"),
    ],
)
def test_trigger_auth(client_for, headers, code, detail):
    """A missing or malformed header is 401 (with WWW-Authenticate), a wrong token 403."""
    platform = FakePlatform(1)
    response = client_for(platform=platform).post(TRIGGER, headers=headers)
    assert response.status_code == code
    assert response.json()["detail"].startswith(detail)
    assert response.json()["field"] == "Authorization"
    assert platform.calls == []
    if code == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_trigger_without_configured_token_is_refused(client_for):
    """With no AUTO_SCALER_ADMIN_TOKEN the trigger is refused, naming the variable."""
    response = client_for(admin_token=None).post(TRIGGER, headers=AUTH)
    assert response.status_code == 403
    assert "AUTO_SCALER_ADMIN_TOKEN" in response.json()["detail"]


def test_failed_check_is_a_5xx_with_the_error(client_for):
    """A check whose count fails answers success false, the error, and 503."""
    client = client_for(counter=FakeCounter(CountError("table 'mailboxes' does not exist")))
    response = client.post(TRIGGER, headers=AUTH)
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False and body["decision"] is None
    assert body["error"] == "table 'mailboxes' does not exist"
    assert client.get("/api/auto-scaler/status").json()["lastError"] == body["error"]


def test_healthz(client_for):
    """/healthz answers ok while the process serves."""
    assert client_for().get("/healthz").json()["status"] == "ok"


BAD_PAUSE_BODIES = [
    (b'{"minutes": NaN}', "minutes", "body field 'minutes': Input should be a finite number"),
    (b'{"minutes": Infinity}', "minutes", "body field 'minutes': Input should be a finite number"),
    (b'{"minutes": -5}', "minutes", "body field 'minutes': Input should be greater than 0"),
    (b'{"minutes": "soon"}', "minutes", "body field 'minutes': Input should be a valid number"),
    (b'{"minutes": "30"}', "minutes", "body field 'minutes': Input should be a valid number"),
    (b'{"minutes": true}', "minutes", "body field 'minutes': Input should be a valid number"),
    (
        b'{"reason": "' + b"x" * 600 + b'"}',
        "reason",
        "body field 'reason': String should have at most 500 characters",
    ),
    (b'{"minutes": 5', "body", "body: is not valid JSON"),
    (
        b"[1, 2]",
        "body",
        "body: Input should be a valid dictionary or object to extract fields from",
    ),
]


@pytest.mark.parametrize(("body", "field", "detail"), BAD_PAUSE_BODIES)
def test_bad_pause_body_is_a_422_naming_the_field_without_echoing_it(
    client_for, body, field, detail
):
    """A bad pause body answers 422 {detail, field, errors} naming the field, never the input."""
    client = client_for()
    response = client.post(
        PAUSE, content=body, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 422
    answer = response.json()
    assert (answer["detail"], answer["field"]) == (detail, field)
    assert all(set(e) == {"field", "loc", "msg"} for e in answer["errors"])
    assert b"xxxxxxxxxx" not in response.content and b"soon" not in response.content
    assert client.get("/api/auto-scaler/status").json()["paused"]["paused"] is False


def test_good_pause_body_still_pauses(client_for):
    """The seed-compatible pause answer is unchanged: success and the pause."""
    client = client_for()
    response = client.post(PAUSE, json={"minutes": 30, "reason": "deploy"}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["paused"]["reason"] == "deploy"


class Asgi:
    """Calls an ASGI app directly with a request whose body is served in chunks on demand, and
    records how many body bytes the app asked for."""

    def __init__(self, app) -> None:
        self.app = app

    def post(self, path, headers, chunks):
        pending = list(chunks)
        state = {"read": 0, "sent": []}

        async def receive():
            if not pending:
                return {"type": "http.request", "body": b"", "more_body": False}
            chunk = pending.pop(0)
            state["read"] += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

        async def send(message):
            state["sent"].append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        asyncio.run(self.app(scope, receive, send))
        start = next(m for m in state["sent"] if m["type"] == "http.response.start")
        body = b"".join(
            m.get("body", b"") for m in state["sent"] if m["type"] == "http.response.body"
        )
        return start["status"], json.loads(body), state["read"]


HUGE = str(100 * 1024 * 1024)


@pytest.mark.parametrize(
    ("headers", "code", "field"),
    [
        ({"Content-Length": HUGE}, 401, "Authorization"),
        ({"Content-Length": HUGE, "Authorization": "Bearer wrong"}, 403, "Authorization"),
        ({"Content-Length": HUGE, **AUTH}, 413, "body"),
        ({"Content-Length": "12abc", **AUTH}, 400, "Content-Length"),
    ],
)
def test_admin_routes_answer_before_reading_any_body(client_for, headers, code, field):
    """Without the token (401/403), or with a declared length over the cap (413), the answer comes
    from the headers alone: not one byte of the body is read."""
    app = client_for().client._transport.app
    status, body, read = Asgi(app).post(PAUSE, headers, [b"x" * 65536] * 4)
    assert (status, body["field"], read) == (code, field, 0)


def test_a_chunked_body_is_cut_off_at_the_cap(client_for):
    """A body without Content-Length is read only until it passes 8 KB, then answered 413."""
    app = client_for().client._transport.app
    status, body, read = Asgi(app).post(PAUSE, AUTH, [b"{" + b" " * 4095] * 100)
    assert (status, body["detail"]) == (413, "the request body is over 8192 bytes")
    assert read <= 8192 + 4096


def test_api_docs_need_nothing_from_the_internet(client_for):
    """/docs references only assets the app serves (no CDN), and each one is served."""
    client = client_for()
    html = client.get("/docs").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(refs) == 3 and not re.search(r"https?://", html), html
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 500, ref
    assert client.get("/redoc").status_code == 404  # ReDoc needs a CDN: not served
