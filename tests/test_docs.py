"""The repository's pages stay true: the architecture map lists every
module and nothing else, links point at files of the repository, nothing
points outside it, and the pure core stays free of Twisted."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: A Markdown link's target: [text](target), not a URL or an anchor alone.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def modules() -> set[str]:
    """
    Every module of the package, as a repository path.
    """
    return {
        str(path.relative_to(ROOT))
        for path in (ROOT / "logship").rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_architecture_lists_every_module() -> None:
    """
    docs/architecture.md has a row for every module of logship/, and no
    row names a module that does not exist.
    """
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(logship/[\w/]+\.py)` \|", page, re.M))
    assert sorted(modules() - rows) == [], "modules missing from docs/architecture.md"
    assert sorted(rows - modules()) == [], "docs/architecture.md names modules that are gone"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page: Path) -> None:
    """
    Every relative link of the README and the docs names a file or folder
    of the repository.
    """
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists() or ROOT not in path.parents:
            broken.append(target)
    assert broken == []


def test_nothing_points_outside() -> None:
    """
    No page, script, test or module names a place beside the repository.
    """
    outside = re.compile(r"\.\./shared|shared/(DESIGN|STYLE|corpus|anchors)")
    files = [*PAGES, *ROOT.glob("bench/**/*.py"), *ROOT.glob("logship/**/*.py"),
             *ROOT.glob("tests/**/*.py"), ROOT / "Makefile", ROOT / "setup.py"]
    found = [str(f.relative_to(ROOT)) for f in files
             if f != Path(__file__) and outside.search(f.read_text(encoding="utf-8"))]
    assert found == []


def test_core_imports_no_twisted() -> None:
    """
    The pure core imports neither Twisted nor any other layer of logship.
    """
    offenders = []
    for path in sorted((ROOT / "logship" / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            for name in names:
                top = name.split(".")
                if top[0] in ("twisted", "autobahn", "treq", "zope") or (
                    top[0] == "logship" and len(top) > 1 and top[1] != "core"
                ):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
