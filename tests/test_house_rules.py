"""The house rules of docs/architecture.md that no linter checks, read from the source.

Import directions are import-linter's (pyproject.toml); these are the rest: sizes, SQL only
in the catalog, object keys only from the layout module, one title-id rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reelflow"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Alembic migrations are history: written once, never split.
EXEMPT = ("catalog/migrations/",)
# The names that build or run SQL; an Engine or a SQLAlchemy error type may travel anywhere.
SQL_NAMES = frozenset(
    {"select", "insert", "update", "delete", "text", "func", "case", "cast", "literal",
     "Session", "col", "and_", "or_", "exists"}
)  # fmt: skip
SQL_PACKAGES = ("sqlalchemy", "sqlmodel")
# Top-level folders of the object store (storage/layout.py): no key is assembled elsewhere.
KEY_AREAS = (
    "masters/", "qc/", "ladders/", "renditions/", "subtitles/", "images/", "packages/",
    "origin/", "uploads/", "events/", "events-aggregates/", "models/",
)  # fmt: skip


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if not rel.startswith(EXEMPT):
            yield rel, path


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for rel, path in _modules():
        yield rel, ast.parse(path.read_text(), filename=rel)


def test_no_module_over_400_lines() -> None:
    big = {
        rel: n
        for rel, path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert big == {}, f"split by meaning: {big}"


def test_no_function_over_60_lines() -> None:
    long = {
        f"{rel}:{node.name}": n
        for rel, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (n := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    }
    assert long == {}, f"name the steps: {long}"


def test_sql_lives_in_the_catalog_only() -> None:
    found = []
    for rel, tree in _trees():
        if rel.startswith("catalog/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(SQL_PACKAGES):
                names = {alias.name for alias in node.names} & SQL_NAMES
                if names:
                    found.append(f"{rel}:{node.lineno} imports {sorted(names)}")
    assert found == [], "call a named query in reelflow/catalog/ instead:\n" + "\n".join(found)


def _key_like(node: ast.JoinedStr) -> str | None:
    first = node.values[0] if node.values else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value if first.value.startswith(KEY_AREAS) else None
    return None


def test_object_keys_come_from_the_layout_module_only() -> None:
    found = [
        f"{rel}:{node.lineno} f'{prefix}...'"
        for rel, tree in _trees()
        if rel != "storage/layout.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr) and (prefix := _key_like(node))
    ]
    assert found == [], "ask reelflow.storage.layout for the key:\n" + "\n".join(found)


RULE_NAMES = frozenset({"TITLE_ID_PATTERN", "TITLE_ID_RE", "SLUG_PATTERN", "SLUG_RE"})


def test_one_title_id_rule() -> None:
    # The rule's regex is written once (domain/ids.py); other modules use its names.
    rule = "a-z0-9][a-z0-9_-]{0,63}"
    holders = [rel for rel, path in _modules() if rule in path.read_text()]
    assert holders == ["domain/ids.py"]
    defined = [
        f"{rel}:{node.lineno}"
        for rel, tree in _trees()
        if rel != "domain/ids.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
        and target.id.startswith(("TITLE_ID_PATTERN", "TITLE_ID_RE"))
    ]
    assert defined == [], f"import the title-id rule from reelflow.domain.ids: {defined}"


@pytest.mark.parametrize("area", KEY_AREAS)
def test_every_key_area_is_known_to_the_layout(area: str) -> None:
    layout = (PACKAGE / "storage" / "layout.py").read_text()
    assert f'"{area.rstrip("/")}"' in layout


ROOT = PACKAGE.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _doc_section(title: str) -> str:
    text = ARCHITECTURE.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_architecture_layer_table_is_the_import_contract() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    contract = [
        " | ".join(part.strip().removeprefix("reelflow.") for part in row.split("|"))
        for row in layers
    ]
    rows = [
        line.split("|", 2)[2].rsplit("|", 1)[0].replace("`", "").replace("\\", "").strip()
        for line in _doc_section("Layers").splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    assert rows == contract


def test_every_module_has_its_test_or_is_listed_by_concern() -> None:
    tests = {p.relative_to(ROOT / "tests").as_posix() for p in (ROOT / "tests").rglob("test_*.py")}
    listed = _doc_section("Tests by concern")
    missing = []
    for rel, path in _modules():
        if path.name == "__init__.py" or "/" not in rel:
            continue
        part = rel.split("/", 1)[0]
        if f"{part}/test_{path.stem}.py" in tests or f"`reelflow/{rel}`" in listed:
            continue
        missing.append(rel)
    assert missing == [], "add tests/<part>/test_<module>.py or a row in Tests by concern"
