"""Importing skintag.model (and reading a manifest) must not load torch, transformers or xgboost."""

from __future__ import annotations

import json
import subprocess
import sys

from skintag.settings import REPO_ROOT


def test_import_skintag_model_is_light():
    code = (
        "import json, sys\n"
        "import skintag.model, skintag.model.manifest, skintag.model.card, skintag.embeddings\n"
        "from skintag.model import read_manifest\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'transformers', 'xgboost', 'sklearn', 'streamlit')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"torch": False, "transformers": False, "xgboost": False, "sklearn": False, "streamlit": False}


def test_lazy_exports_resolve():
    import skintag.model as m

    assert m.load_bundle.__module__ == "skintag.model.bundle"
    assert m.XGBHead.__module__ == "skintag.model.heads"
    assert "load_bundle" in dir(m)
