"""The HTTP API in-process (FastAPI's TestClient), with the controller on in-memory fakes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.unit.test_controller import FakeCounter, FakeJournal, FakePlatform, make
from warmup_autoscaler.api import create_app
from warmup_autoscaler.errors import CountError

TRIGGER = "/api/auto-scaler/trigger"
AUTH = {"Authorization": "Bearer s3cret"}


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
        env.setdefault("admin_token", "s3cret")
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
        ({"Authorization": "s3cret"}, 401, "Missing or malformed Authorization header"),
        ({"Authorization": "Basic s3cret"}, 401, "Missing or malformed Authorization header"),
        ({"Authorization": "Bearer wrong"}, 403, "Invalid admin token"),
    ],
)
def test_trigger_auth(client_for, headers, code, detail):
    """A missing or malformed header is 401 (with WWW-Authenticate), a wrong token 403."""
    platform = FakePlatform(1)
    response = client_for(platform=platform).post(TRIGGER, headers=headers)
    assert response.status_code == code
    assert response.json()["detail"].startswith(detail)
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
