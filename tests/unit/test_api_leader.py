"""The API of a standby and of a leader, and a pause that cannot be stored."""

from __future__ import annotations

import pytest

from tests.support.settings import make_settings
from tests.unit.test_api import AUTH, TOKEN, Client
from tests.unit.test_controller import Clock, FakeCounter, FakeJournal, FakePlatform
from tests.unit.test_controller_leader import FakeLeadership
from warmup_autoscaler.api import create_app
from warmup_autoscaler.controller import Controller

PREFIX = "/api/auto-scaler"


@pytest.fixture
def client_of():
    clients: list[Client] = []

    def build(leadership=None, journal=None, platform=None):
        controller = Controller(
            settings=make_settings(local_worker_command="true", admin_token=TOKEN),
            counter=FakeCounter(850),
            platform=platform or FakePlatform(1),
            journal=journal or FakeJournal(),
            clock=Clock(),
            leadership=leadership,
        )
        clients.append(Client(create_app(controller)))
        return clients[-1]

    yield build
    for client in clients:
        client.close()


@pytest.mark.parametrize("endpoint", ["trigger", "pause", "resume"])
def test_a_standby_answers_409_naming_the_leader(client_of, endpoint):
    """trigger, pause and resume on a standby: 409 with the leader in the body; nothing done."""
    platform = FakePlatform(1)
    client = client_of(FakeLeadership(instance="a", term=None, leader="b"), platform=platform)
    response = client.post(f"{PREFIX}/{endpoint}", headers=AUTH)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "this auto-scaler (a) is a standby: b leads (term 7); "
        "send trigger, pause and resume to the leader",
        "field": None,
        "leader": {
            "role": "standby",
            "instance": "a",
            "term": 7,
            "leaderInstance": "b",
            "leaseExpiresInMs": None,
            "error": None,
        },
    }
    assert platform.calls == []


def test_a_standby_is_healthy_and_says_it_stands_by(client_of):
    """/healthz answers 200 on a standby, with its role; the status names the leader."""
    client = client_of(FakeLeadership(instance="a", term=None, leader="b"))
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["role"] == "standby"
    leader = client.get(f"{PREFIX}/status").json()["leader"]
    assert (leader["role"], leader["leaderInstance"]) == ("standby", "b")


def test_the_leader_triggers_and_names_its_term(client_of):
    """On the leader the trigger runs the check; the status's last decision names the term."""
    client = client_of(FakeLeadership(instance="a", term=4))
    assert client.post(f"{PREFIX}/trigger", headers=AUTH).json()["executed"] is True
    status = client.get(f"{PREFIX}/status").json()
    assert (status["lastDecision"]["instance"], status["lastDecision"]["term"]) == ("a", 4)
    assert status["leader"]["role"] == "leader"
    assert client.get("/healthz").json()["role"] == "leader"


def test_a_pause_that_cannot_be_stored_answers_503_and_leaves_the_daemon_running(client_of):
    """Persist, then swap: a 503 from pause means the daemon is not paused."""
    journal = FakeJournal(broken=True)
    client = client_of(journal=journal)
    response = client.post(f"{PREFIX}/pause", headers=AUTH, json={"reason": "deploy"})
    assert response.status_code == 503
    assert response.json() == {"detail": "database is locked", "field": None}
    assert client.get(f"{PREFIX}/status").json()["paused"]["paused"] is False
