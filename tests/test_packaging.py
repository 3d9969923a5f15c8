"""The installable package: ``pip wheel .`` builds a wheel holding every module and the files skintag reads (demo
bundle, data cards, category map, the app's entry and pages, the Streamlit config); installed into a folder of its own
and run from outside the repository, the fairness CLI works, the app frame runs, and the shipped demo bundle loads.
Also the launcher's options and the settings' installed-package defaults."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from skintag import settings as settings_mod
from skintag.app import config_flags, streamlit_command
from skintag.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [
    "streamlit_app.py", ".streamlit/config.toml", "configs/categories.yaml", "models/demo/manifest.json",
    "models/demo/backbone/ensemble.json", "models/demo/backbone/0/model.safetensors", "models/demo/heads/binary.json",
    "models/demo/eval/metrics.json",
]
SHIPPED += [f"app_pages/{p.name}" for p in (REPO / "app_pages").glob("*.py")]
SHIPPED += [f"data_cards/{p.name}" for p in (REPO / "data_cards").glob("*.md")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout (offline: no build isolation, no dependencies)."""
    out = tmp_path_factory.mktemp("wheel")
    leftovers = [p for p in (REPO / "build", REPO / "skintag.egg-info") if not p.exists()]  # setuptools writes them
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out)], cwd=REPO, check=True, capture_output=True, timeout=300)
    finally:
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
    (path,) = out.glob("skintag-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed (without dependencies: the test venv has them) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return target


def _run_outside(code_or_args: list[str], site: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run the test venv's python with only ``site`` (not the checkout) providing skintag, from ``cwd``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SKINTAG_") and k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *code_or_args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**clean, "PYTHONPATH": str(site), **env})


@pytest.mark.slow
def test_wheel_holds_every_module_and_the_shipped_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = [p.relative_to(REPO).as_posix() for d in ("skintag", "training") for p in (REPO / d).rglob("*.py")]
    missing = sorted(s for s in sources if s not in names)
    assert not missing, f"not in the wheel (list the sub-package in pyproject's [tool.setuptools] packages): {missing}"
    assert not [s for s in SHIPPED if f"skintag/_shipped/{s}" not in names]
    assert not [n for n in names if n.startswith(("tests/", "bench/")) or "__pycache__" in n]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "skintag-app = skintag.app:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_installed_package_runs_outside_the_repository(installed, tmp_path):
    cli = _run_outside(["-m", "skintag.fairness", "--help"], installed, tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("usage: python -m skintag.fairness")

    code = (
        "import sys, skintag, skintag.settings as s\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file(str(s.shipped('streamlit_app.py')), default_timeout=120).run()\n"
        "assert not at.exception, at.exception\n"
        "from skintag.ui.common import start_bundle_load\n"
        "bundle = start_bundle_load(s.Settings.from_env()).result()\n"
        "from skintag.taxonomy import DEFAULT_CONFIG_PATH\n"
        "from skintag.cards import list_data_cards\n"
        "print(skintag.__file__, s.FROM_SOURCE, s.default_model_dir(), DEFAULT_CONFIG_PATH.is_file(),\n"
        "      len(list_data_cards()), bundle.name, sep='\\n')\n"
        "print(' | '.join(x.value for x in at.sidebar.success))\n"
    )
    out = _run_outside(["-c", code], installed, tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert out.returncode == 0, out.stderr[-3000:]
    module, from_source, model_dir, has_categories, n_cards, name, badge = out.stdout.strip().splitlines()[-7:]
    assert Path(module).is_relative_to(installed) and from_source == "False"
    assert Path(model_dir) == installed / "skintag" / "_shipped" / "models" / "demo"
    assert has_categories == "True" and int(n_cards) == len(list((REPO / "data_cards").glob("*.md")))
    assert name == "demo" and "Model: **demo**" in badge
    assert (installed / "bin" / "skintag-app").is_file()


def test_pyproject_pins_match_requirements():
    """pyproject's dependencies are requirements.txt's pins (so `pip install .` gets the tested versions)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO / "requirements.txt").read_text(), flags=re.M))
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    assert len(declared) >= 20
    for requirement in declared:
        name, version = requirement.split("==")
        assert pins.get(name) == version, f"{requirement} vs requirements.txt {name}=={pins.get(name)}"


def test_launcher_passes_the_shipped_streamlit_config():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["toolbarMode"] in ("minimal", "viewer")
    assert config["server"]["maxUploadSize"] == Settings().max_upload_mb  # Streamlit refuses what the app would
    flags = config_flags(config)
    assert "--browser.gatherUsageStats=false" in flags and "--server.maxUploadSize=20" in flags
    cmd = streamlit_command(["--server.port", "8600"])
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py")]
    assert cmd[-2:] == ["--server.port", "8600"] and cmd.index("--client.toolbarMode=minimal") < len(cmd) - 2


def test_installed_defaults(monkeypatch, tmp_path):
    """From a wheel (FROM_SOURCE false): the demo bundle inside the package, data/ and caches off the install."""
    for var in ("SKINTAG_DATA_DIR", "SKINTAG_MODEL_DIR", "SKINTAG_APP_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(settings_mod, "FROM_SOURCE", False)
    monkeypatch.setattr(settings_mod, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = Settings.from_env()
    assert s.model_dir == settings_mod.SHIPPED_DIR / "models" / "demo"
    assert s.data_dir == tmp_path / "data"
    assert s.app_data_dir == tmp_path / "cache" / "skintag"
    monkeypatch.setenv("SKINTAG_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings.from_env().data_dir == tmp_path / "elsewhere"


def test_source_checkout_defaults(monkeypatch):
    for var in ("SKINTAG_MODEL_DIR", "SKINTAG_APP_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert settings_mod.FROM_SOURCE and settings_mod.REPO_ROOT == REPO
    s = Settings.from_env()
    assert s.model_dir == REPO / "models" / "demo" and s.app_data_dir == REPO / ".skintag"
    assert settings_mod.shipped("data_cards") == REPO / "data_cards"
