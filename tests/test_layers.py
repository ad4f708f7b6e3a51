"""The import direction between the packages, read from the source with ``ast`` (every
import, also those inside functions or under ``TYPE_CHECKING``).

    nlp       -> nothing of agents, streams, schemas, bench, training; no faust, aiokafka
    schemas   -> no agents, streams
    training  -> no bench (the shared helpers live in training/ or nlp/)
    runtime (streams, agents, nlp, schemas) -> no bench, training
    streams   -> no agents, except the entry points in STREAMS_MAY_IMPORT_AGENTS
    stories   -> nothing of agents, streams, schemas, nlp, bench, training; no faust, aiokafka
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: streams modules allowed to import agents: the command-line entry points that load the
#: agents (the worker registers ``enrich_articles``; ``reroute``, ``topics``/``routes``
#: read the routes file). Edit this list when a module stops (or must start) doing so.
STREAMS_MAY_IMPORT_AGENTS = frozenset({"streams/cli.py", "streams/topics.py"})

#: package -> top-level names its modules must not import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "nlp": frozenset({"agents", "streams", "schemas", "bench", "training", "faust", "aiokafka"}),
    "schemas": frozenset({"agents", "streams", "bench", "training"}),
    "training": frozenset({"bench", "streams", "agents", "faust", "aiokafka"}),
    "agents": frozenset({"bench", "training"}),
    "streams": frozenset({"agents", "bench", "training"}),
    "stories": frozenset(
        {"agents", "streams", "schemas", "nlp", "bench", "training", "faust", "aiokafka"}
    ),
}


def imported(path: Path, root: Path = ROOT) -> set[str]:
    """Top-level names of every module ``path`` imports (relative imports resolved to
    their package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    package = path.relative_to(root).parts[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add(package)
            elif node.module:
                names.add(node.module.split(".")[0])
    return names


def violations(package: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        banned = FORBIDDEN[package]
        if rel in STREAMS_MAY_IMPORT_AGENTS:
            banned = banned - {"agents"}
        found += [f"{rel} imports {name}" for name in sorted(imported(path, root) & banned)]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    assert violations(package) == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    (tmp_path / "nlp").mkdir()
    (tmp_path / "streams").mkdir()
    probe = tmp_path / "nlp" / "probe.py"
    probe.write_text(
        "from __future__ import annotations\n\n"
        "def late() -> None:\n"
        "    import faust\n"
        "    from agents.routing import Routes\n"
        "    from . import data\n",
        encoding="utf-8",
    )
    (tmp_path / "streams" / "cli.py").write_text("import agents.enrich\n", encoding="utf-8")
    (tmp_path / "streams" / "app.py").write_text("from agents import pool\n", encoding="utf-8")
    assert imported(probe, tmp_path) == {"__future__", "faust", "agents", "nlp"}
    assert violations("nlp", tmp_path) == [
        "nlp/probe.py imports agents",
        "nlp/probe.py imports faust",
    ]
    assert violations("streams", tmp_path) == ["streams/app.py imports agents"]


def test_the_allowed_streams_modules_exist() -> None:
    for rel in STREAMS_MAY_IMPORT_AGENTS:
        assert (ROOT / rel).is_file(), rel
