"""The job interface: loading `record` or `module:callable`, and a cycle's one fenced record."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from warmup_autoscaler.errors import ConfigError
from warmup_autoscaler.worker import Cycle, load_job, record_job


@pytest.fixture
def job_module(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "myjobs_for_test.py").write_text(
        textwrap.dedent(
            """
            class Jobs:
                @staticmethod
                async def warm(cycle):
                    await cycle.record(outcome="sent", detail="2 messages")

            not_callable = 3
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    yield "myjobs_for_test"
    sys.path.remove(str(tmp_path))
    sys.modules.pop("myjobs_for_test", None)


def make_cycle(result: bool, calls: list[tuple[str, str | None]]) -> Cycle:
    async def writer(cycle: Cycle, outcome: str, detail: str | None) -> bool:
        calls.append((outcome, detail))
        return result

    return Cycle(
        mailbox={"id": 7, "email": "m@x"},
        mailbox_id=7,
        epoch=3,
        worker_id="w",
        started_at_ms=1,
        writer=writer,
    )


def test_record_is_the_built_in_job() -> None:
    """`record` loads the built-in job, which records one row with outcome ok and sends nothing."""
    assert load_job("record") is record_job
    calls: list[tuple[str, str | None]] = []
    cycle = make_cycle(True, calls)
    asyncio.run(record_job(cycle))
    assert calls == [("ok", None)]
    assert cycle.recorded and not cycle.fenced


def test_module_callable_is_loaded_through_a_dotted_path(job_module: str) -> None:
    """`module:Class.attr` resolves to that async callable, which gets the cycle."""
    job = load_job(f"{job_module}:Jobs.warm")
    calls: list[tuple[str, str | None]] = []
    asyncio.run(job(make_cycle(True, calls)))  # type: ignore[arg-type]
    assert calls == [("sent", "2 messages")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_module_xyz:run",
            "AUTO_SCALER_WORKER_JOB=no_such_module_xyz:run: cannot import "
            "'no_such_module_xyz' (ModuleNotFoundError: No module named 'no_such_module_xyz')",
        ),
        (
            "{mod}:missing",
            "AUTO_SCALER_WORKER_JOB={mod}:missing: '{mod}' has no attribute 'missing'",
        ),
        (
            "{mod}:not_callable",
            "AUTO_SCALER_WORKER_JOB={mod}:not_callable: 'not_callable' is not callable",
        ),
        ("justaname", "AUTO_SCALER_WORKER_JOB=justaname: must be record or module:callable"),
    ],
)
def test_a_bad_job_is_a_config_error_naming_the_variable(
    job_module: str, spec: str, message: str
) -> None:
    """Every way a job spec can be wrong is one ConfigError line naming the variable."""
    with pytest.raises(ConfigError) as caught:
        load_job(spec.format(mod=job_module))
    assert caught.value.problems == [message.format(mod=job_module)]


def test_a_fenced_cycle_counts_as_lost_and_records_once() -> None:
    """A refused write marks the cycle fenced; a second record() is a programming error."""
    calls: list[tuple[str, str | None]] = []
    cycle = make_cycle(False, calls)
    assert asyncio.run(cycle.record(outcome="x" * 50)) is False
    assert cycle.fenced and not cycle.recorded
    assert calls == [("x" * 40, None)]
    with pytest.raises(RuntimeError, match="at most once"):
        asyncio.run(cycle.record())
