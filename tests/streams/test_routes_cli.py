"""A routes file that could hurt the pipeline stops every command that loads routes with
one line (no traceback) before anything connects to a broker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import cli, free_port, worker_env

BAD_ROUTES = {
    "loop.toml": (
        '[[route]]\ntopic = "wirestream.topic.sport"\nwhen.topics = ["sport"]\n\n'
        '[[route]]\nname = "again"\ntopic = "wirestream.articles"\n',
        "route 2 ('again'): a route may not write to wirestream.articles: "
        "it is a topic the pipeline reads or owns",
    ),
    "typo.toml": (
        '[[route]]\ntopic = "wirestream.topic.sports"\nwhen.topics = ["sports"]\n',
        "route 1 (topic 'wirestream.topic.sports'): unknown IPTC topic slug 'sports' in "
        "when.topics; did you mean 'sport'?",
    ),
    "dots.toml": (
        '[[route]]\ntopic = ".."\n',
        "route 1 (topic '..'): not a Kafka topic name: Kafka does not allow '..' as a topic name",
    ),
}


def wirestream(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # an unreachable broker: the routes error must come first
    env = worker_env(f"kafka://127.0.0.1:{free_port()}", tmp_path / "data")
    return cli(env, *args, timeout=60)


@pytest.mark.parametrize(
    ("command", "name"),
    [
        *(("topics", name) for name in sorted(BAD_ROUTES)),
        ("worker", "loop.toml"),
        ("reroute", "dots.toml"),
        ("run", "typo.toml"),
    ],
)
def test_bad_routes_stop_the_command_with_one_line(tmp_path: Path, command: str, name: str) -> None:
    text, reason = BAD_ROUTES[name]
    path = tmp_path / name
    path.write_text(text)
    result = wirestream(tmp_path, command, "--routes", str(path))
    assert result.returncode == 1
    assert result.stderr == f"wirestream {command}: bad routes file: {path}: {reason}\n"
    assert result.stdout == ""


def test_topics_lists_the_values_conditions_take(tmp_path: Path) -> None:
    result = wirestream(tmp_path, "topics", "--conditions")
    assert result.returncode == 0, result.stderr
    rows = {
        line.split()[0]: line.split(None, 1)[1]
        for line in result.stdout.split("CONDITION", 1)[1].splitlines()[1:]
    }
    assert rows["topics"].startswith("arts, conflict, crime, ") and "sport" in rows["topics"]
    assert "protest, " in rows["tags"] and "sign-agreement" in rows["tags"]
    assert (
        rows["entity_labels"]
        == "EVENT, FAC, GPE, LAW, LOC, NORP, ORG, PERSON, PRODUCT, WORK_OF_ART"
    )
    assert rows["languages"].startswith("en, fr, es, de, it, pt, nl (detected), und")
    assert list(rows) == [
        "topics",
        "tags",
        "entity_labels",
        "languages",
        "entity_names",
        "sources",
        "sentiment_below",
        "sentiment_above",
        "unmatched",
        "countries",
        "near",
    ]
