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


def test_fairness_page_runs_without_torch():
    """The whole page (AppTest on the fixture) runs without importing torch or transformers."""
    fixture = REPO / "tests" / "fixtures" / "predictions" / "simulated_predictions.csv"
    code = (
        "import os, sys; os.environ['SKINTAG_PREDICTIONS'] = sys.argv[1]\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file(sys.argv[2], default_timeout=60).run()\n"
        "assert not at.exception, at.exception\n"
        "print(len(at.dataframe) >= 2, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(fixture), str(REPO / "app_pages" / "fairness_audit.py")],
                         capture_output=True, text=True, check=True, cwd=REPO, env={**_env(), "PYTHONPATH": str(REPO)})
    assert out.stdout.split()[-3:] == ["True", "False", "False"]


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
