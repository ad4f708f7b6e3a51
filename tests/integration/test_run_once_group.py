"""``run --once`` on a broker where another worker consumes the worker group refuses to
start, instead of counting that worker's records (issue 23); a worker that has stopped
(which the embedded broker keeps listing) does not stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.settings import Settings
from tests.helpers import SEEDS, cli, create_topics, free_port, read, start_worker, worker_env
from tests.integration.conftest import Worker
from tests.integration.test_cli import newcomer_env

pytestmark = pytest.mark.integration


def test_run_once_refuses_while_another_worker_consumes_the_group(
    env: dict[str, str], settings: Settings, worker: Worker, tmp_path: Path
) -> None:
    marked = tmp_path / "one.jsonl"
    marked.write_text('{"id": "run-once-refused-1", "headline": "Refused run", "body": "x y z"}\n')
    result = cli(env, "run", "--once", "--timeout", "60", str(marked), timeout=90)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "wirestream run: another worker (1 live member(s) of consumer group 'wirestream-test') "
        f"already consumes {settings.broker}; stop it, or point --broker at a broker of its "
        "own, then run --once again"
    ]
    assert f"using broker {settings.broker}" in result.stdout
    assert "published" not in result.stdout and "worker started" not in result.stdout
    assert worker.alive()  # the other worker was not disturbed into exiting
    articles = read(settings.bootstrap_servers, ["wirestream.articles"], timeout=3)
    assert all(r.key != "run-once-refused-1" for r in articles)  # nothing was published


def test_run_once_goes_ahead_after_the_other_worker_stopped(tmp_path: Path) -> None:
    """The embedded broker keeps listing the group's last member after it stopped; that
    member is not live, so `run --once` starts and routes every article."""
    with EmbeddedBroker(port=free_port()) as broker:
        create_topics(Settings(broker=broker.url))
        other = start_worker(worker_env(broker.url, tmp_path / "other"), tmp_path / "other.log")
        other.stop()
        result = cli(
            newcomer_env(tmp_path, broker.port),
            "run",
            "--once",
            "--timeout",
            "90",
            str(SEEDS / "wire.jsonl"),
            timeout=150,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"using broker {broker.url}" in result.stdout
    assert "all 5 articles routed" in result.stdout
    assert "[wirestream.topic.sport]" in result.stdout
