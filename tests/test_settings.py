"""Settings are range-checked at start, with a message naming the variable; the app shows it with st.error."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from skintag.errors import ConfigError
from skintag.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("var", "value", "words"), [
    ("SKINTAG_MAX_UPLOAD_MB", "abc", "SKINTAG_MAX_UPLOAD_MB='abc' is not a number"),
    ("SKINTAG_MAX_UPLOAD_MB", "0", "SKINTAG_MAX_UPLOAD_MB) is out of range"),
    ("SKINTAG_MAX_UPLOAD_MB", "nan", "SKINTAG_MAX_UPLOAD_MB='nan' is not a finite number"),
    ("SKINTAG_MAX_PIXELS", "inf", "SKINTAG_MAX_PIXELS='inf' is not a finite number"),
    ("SKINTAG_MAX_PIXELS", "2.5", "SKINTAG_MAX_PIXELS='2.5' is not a whole number"),
    ("SKINTAG_SHAP_MAX_EVALS", "5", "SKINTAG_SHAP_MAX_EVALS) is out of range"),
    ("SKINTAG_DECODE_TIMEOUT_S", "-1", "SKINTAG_DECODE_TIMEOUT_S) is out of range"),
    ("SKINTAG_API_PORT", "70000", "SKINTAG_API_PORT) is out of range"),
    ("SKINTAG_API_THREADS", "x", "SKINTAG_API_THREADS='x' is not a number"),
    ("SKINTAG_CASELOG_BUSY_TIMEOUT_S", "0", "SKINTAG_CASELOG_BUSY_TIMEOUT_S) is out of range"),
])
def test_bad_setting_names_the_variable(monkeypatch, var, value, words):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        Settings.from_env()
    assert words in str(err.value)


def test_every_range_is_checked_and_named(monkeypatch):
    """Each entry of RANGES is enforced when Settings is built (one table, no range checked elsewhere)."""
    from dataclasses import fields

    from skintag.settings import RANGES

    names = {f.name for f in fields(Settings)}
    assert set(RANGES) <= names
    for name, (lo, hi) in RANGES.items():
        with pytest.raises(ConfigError, match=f"SKINTAG_{name.upper()}"):
            Settings(**{name: hi * 2 + 1})
        with pytest.raises(ConfigError, match=f"SKINTAG_{name.upper()}"):
            Settings(**{name: lo - 1})


def test_defaults_are_in_range(monkeypatch):
    for var in ("SKINTAG_MAX_UPLOAD_MB", "SKINTAG_MAX_PIXELS", "SKINTAG_SHAP_MAX_EVALS", "SKINTAG_DECODE_TIMEOUT_S"):
        monkeypatch.delenv(var, raising=False)
    s = Settings.from_env()
    assert (s.max_upload_mb, s.max_pixels, s.shap_max_evals, s.decode_timeout_s) == (20.0, 50_000_000, 300, 10.0)


def test_streamlit_config_matches_the_app():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == Settings.max_upload_mb == 20.0
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["address"] == "127.0.0.1"


def test_page_shows_a_bad_setting_as_an_error(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SKINTAG_MAX_UPLOAD_MB", "abc")
    at = AppTest.from_file(str(REPO / "app_pages" / "home.py"), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "SkinTag cannot start with this configuration: Environment variable SKINTAG_MAX_UPLOAD_MB='abc' is not a "
        "number. Correct or unset the variable and restart the app."]


def test_trusted_keys_and_signature_flag_from_the_environment(monkeypatch, tmp_path):
    key = tmp_path / "k.pub"
    key.write_text("x")
    monkeypatch.setenv("SKINTAG_TRUSTED_KEYS", f"{key}{__import__('os').pathsep}{key}")
    monkeypatch.setenv("SKINTAG_REQUIRE_SIGNED_BUNDLE", "yes")
    s = Settings.from_env()
    assert s.trusted_keys == (key, key) and s.require_signed_bundle is True
    monkeypatch.setenv("SKINTAG_TRUSTED_KEYS", str(tmp_path / "missing.pub"))
    with pytest.raises(ConfigError, match="SKINTAG_TRUSTED_KEYS"):
        Settings.from_env()
    monkeypatch.delenv("SKINTAG_TRUSTED_KEYS")
    monkeypatch.setenv("SKINTAG_REQUIRE_SIGNED_BUNDLE", "perhaps")
    with pytest.raises(ConfigError, match="SKINTAG_REQUIRE_SIGNED_BUNDLE"):
        Settings.from_env()
