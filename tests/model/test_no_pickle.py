"""No pickle anywhere in the repository: no tracked file in a pickle-based format, and no code that unpickles."""

from __future__ import annotations

import re
import subprocess

from skintag.model.bundle import pickle_reason
from skintag.settings import REPO_ROOT


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def test_no_tracked_pickle_files():
    files = _tracked_files()
    assert files, "git ls-files returned nothing"
    found = {f: r for f in files if (REPO_ROOT / f).is_file() and (r := pickle_reason(REPO_ROOT / f))}
    assert found == {}


def test_no_code_unpickles():
    pattern = re.compile(
        r"^\s*(import (c?pickle|joblib|dill|cloudpickle)\b|from (c?pickle|joblib|dill|cloudpickle) import)"
        r"|allow_pickle\s*=\s*True|weights_only\s*=\s*False",
        re.MULTILINE,
    )
    offenders = []
    for f in _tracked_files():
        if f.endswith(".py"):
            text = (REPO_ROOT / f).read_text(encoding="utf-8", errors="replace")
            offenders += [f"{f}: {m.group(0).strip()}" for m in pattern.finditer(text)]
    assert offenders == []
