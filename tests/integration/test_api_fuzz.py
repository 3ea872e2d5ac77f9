"""Schemathesis over every operation of the API's OpenAPI schema, in-process, on a real SQLite store.

Each operation gets valid and invalid requests (schemathesis' positive and negative modes:
out-of-range numbers, wrong types, huge and odd strings, bodies that are not objects...), sent with
the admin token. What must hold for every one: no 5xx except a documented 503; every 4xx is JSON in
the API's error shape with `field` naming what was wrong and no echo of the input; every status is
one the schema documents; and schemathesis' own checks (content types, response schemas, auth
really enforced). The number of cases run is printed at the end of the module.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.support.settings import make_settings
from warmup_autoscaler.alerts import Alerting
from warmup_autoscaler.api import create_app
from warmup_autoscaler.controller import Controller
from warmup_autoscaler.metrics import Metrics
from warmup_autoscaler.platforms.manual import ManualPlatform
from warmup_autoscaler.sensor import MailboxCounter
from warmup_autoscaler.store.database import Database
from warmup_autoscaler.store.demo import create_demo_tables, set_active_count
from warmup_autoscaler.store.history import HistoryStore
from warmup_autoscaler.store.migrate import upgrade
from warmup_autoscaler.store.state import StateStore

TOKEN = "fuzz-test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES_PER_OPERATION = 300
# Operations with parameters or a body, and the fewest cases each must get (fewer would mean the
# generator could not reach them); the others take no input and get a handful.
WITH_INPUT = {
    "POST /api/auto-scaler/pause",
    "GET /api/auto-scaler/history",
    "GET /api/auto-scaler/samples",
    "GET /api/auto-scaler/whatif",
    "GET /api/warmup/mailboxes/{mailbox_id}",
}
MIN_CASES_WITH_INPUT = 10
CASES: Counter[str] = Counter()
P = "/api/auto-scaler"
OPERATIONS = [
    ("GET", f"{P}/status"),
    ("POST", f"{P}/trigger"),
    ("POST", f"{P}/pause"),
    ("POST", f"{P}/resume"),
    ("GET", f"{P}/alerts"),
    ("GET", f"{P}/history"),
    ("GET", f"{P}/samples"),
    ("GET", f"{P}/whatif"),
    ("GET", "/healthz"),
    ("GET", "/api/warmup/mailboxes"),
    ("GET", "/api/warmup/mailboxes/{mailbox_id}"),
]


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The daemon's app over a controller on SQLite, with a journal of a few checks."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'warmup.db'}")
    upgrade(db)
    create_demo_tables(db)
    set_active_count(db, 850)
    settings_ = make_settings(platform="manual", admin_token=TOKEN, scale_up_cooldown_ms=0)
    history = HistoryStore(db)
    controller = Controller(
        settings=settings_,
        counter=MailboxCounter(db, settings_.database.mailbox_query),
        platform=ManualPlatform(workers=1),
        journal=StateStore(db),
        history=history,
    )
    alerting = Alerting.from_settings(settings_.alerts, settings_.policy.to_policy())
    metrics = Metrics(lambda: controller.status, controller.clock)
    controller.observers += [alerting.observe, metrics.observe]
    for _ in range(3):
        asyncio.run(controller.check("interval"))
    yield create_app(controller, history=history, metrics=metrics, alerting=alerting)
    alerting.close(1.0)
    db.dispose()
    for operation, count in sorted(CASES.items()):
        print(f"fuzz: {operation}: {count} cases")
    print(f"fuzz: {sum(CASES.values())} cases over {len(CASES)} operations")
    short = {op: CASES[op] for op in WITH_INPUT if CASES[op] < MIN_CASES_WITH_INPUT}
    assert not short, f"operations with too few cases: {short}"


@pytest.fixture(scope="module")
def api_schema(api_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


def check_error_shape(case: Any, response: Any) -> None:
    """No 5xx but a documented 503; a 4xx is {detail, field} naming the field, without the input."""
    code = response.status_code
    documented = case.operation.definition.raw.get("responses", {})
    assert code < 500 or (code == 503 and "503" in documented), f"{code}: {response.text[:300]}"
    if 400 <= code < 500:
        body = response.json()
        assert isinstance(body["detail"], str) and body["detail"], body
        assert isinstance(body["field"], str) and body["field"], body
        if code == 422:
            assert all(set(e) == {"field", "loc", "msg"} for e in body["errors"]), body
        for value in _long_strings(case):
            assert value not in response.text, "the answer echoes the input"


def _long_strings(case: Any) -> list[str]:
    """Generated strings long enough that finding one in an answer means it was echoed."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value) >= 12 and value.isprintable():
            found.append(json.dumps(value)[1:-1])
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for part in (case.query, case.body if not isinstance(case.body, bytes) else None):
        walk(part)
    return found


def test_the_fuzzed_operations_are_every_operation(api_schema: Any) -> None:
    """OPERATIONS lists every operation of the schema (a new endpoint is fuzzed too)."""
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_survives_fuzzing(api_schema: Any, method: str, path: str) -> None:
    """Generated valid and invalid requests never get a 5xx other than a documented 503, and every
    4xx names the field in the API's error shape."""
    operation = api_schema[path][method]
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        CASES[f"{method} {path}"] += 1
        response = case.call(headers=AUTH)
        check_error_shape(case, response)
        case.validate_response(response, excluded_checks=[not_a_server_error], headers=AUTH)

    run()
