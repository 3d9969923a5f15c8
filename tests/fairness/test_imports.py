"""The fairness engine and its plots load without torch or streamlit (the page must open fast and light)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_fairness_and_plots_import_without_torch_or_streamlit():
    code = (
        "import sys, skintag.fairness, skintag.plots.fairness, skintag.fairness.export, skintag.fairness.mitigation; "
        "print('torch' in sys.modules, 'streamlit' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False", "False"]
