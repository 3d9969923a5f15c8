"""Every reference from code, configs and docs to a numbered section of docs/SPEC.md or docs/CONTRACTS.md resolves.

References are written ``docs/SPEC.md §N`` or ``docs/CONTRACTS.md §N`` (an unqualified ``SPEC §N`` is not allowed: a
reader could not tell where SPEC lives), and every ``docs/<name>.md`` path named in the code exists.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
QUALIFIED = re.compile(r"docs/(SPEC|CONTRACTS)\.md §(\d+)")
BARE = re.compile(r"(?<!docs/)\b(SPEC|CONTRACTS)(?:\.md)? (?:§|section )(\d+)")
DOC_PATH = re.compile(r"\bdocs/([\w./-]+\.md)")
SUFFIXES = {".py", ".yaml", ".yml", ".toml", ".md", ".cfg"}


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split()
    files = [REPO / f for f in out if Path(f).suffix in SUFFIXES and (REPO / f).is_file()]
    skip = {REPO / "docs" / "SPEC.md", REPO / "docs" / "CONTRACTS.md", Path(__file__).resolve()}
    return [f for f in files if f not in skip]


def _sections(name: str) -> set[str]:
    text = (REPO / "docs" / f"{name}.md").read_text(encoding="utf-8")
    return set(re.findall(r"^## (\d+)\. ", text, flags=re.M))


def test_every_section_reference_resolves() -> None:
    sections = {name: _sections(name) for name in ("SPEC", "CONTRACTS")}
    assert sections["SPEC"] >= {str(i) for i in range(1, 9)} and sections["CONTRACTS"] >= {"1", "2", "3"}
    found = 0
    problems = []
    for path in _tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in QUALIFIED.finditer(text):
            found += 1
            if m.group(2) not in sections[m.group(1)]:
                problems.append(f"{path.relative_to(REPO)}: {m.group(0)} names no section")
        problems += [f"{path.relative_to(REPO)}: unqualified reference {m.group(0)!r}" for m in BARE.finditer(text)]
    assert not problems, "\n".join(problems)
    assert found >= 20  # the code does refer to the documents (28 references when this test was written)


def test_every_docs_path_named_in_code_exists() -> None:
    missing = []
    for path in _tracked_text_files():
        for m in DOC_PATH.finditer(path.read_text(encoding="utf-8", errors="replace")):
            target = REPO / "docs" / m.group(1)
            if not target.is_file():
                missing.append(f"{path.relative_to(REPO)}: docs/{m.group(1)}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("bad", ["SPEC §9 rules", "see CONTRACTS §1", "SPEC section 4"])
def test_the_checker_catches_bad_references(bad: str) -> None:
    sections = _sections("SPEC")
    qualified = [m for m in QUALIFIED.finditer(bad) if m.group(2) not in sections]
    assert qualified or list(BARE.finditer(bad))
