"""API keys, the host policy and the refusal statuses, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from skintag.api.errors import ApiError, from_skintag_error
from skintag.api.security import (
    hash_key,
    is_loopback,
    key_matches,
    load_hashes,
    new_key,
    parse_hashes,
    require_keys_for_host,
)
from skintag.errors import BadImageError, ConfigError, DataFileError, ModelBundleError

#: SHA-256 of b"abc" (FIPS 180-2, appendix B.1).
ABC = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_hash_is_sha256_of_the_stripped_key():
    assert hash_key("abc") == ABC
    assert hash_key("  abc\n") == ABC
    with pytest.raises(ConfigError, match="empty"):
        hash_key("   ")


def test_new_keys_are_random_and_long():
    keys = {new_key() for _ in range(20)}
    assert len(keys) == 20 and all(len(k) == 43 for k in keys)


def test_keys_file_holds_hashes_with_comments_and_labels(tmp_path):
    other = hash_key("other")
    path = tmp_path / "keys.txt"
    path.write_text(f"# clients\n{ABC}  ehr-gateway\n\n   \n{other} # batch job\n{ABC}\n", encoding="utf-8")
    assert load_hashes(path, [other.upper().replace("SHA256:", "sha256:")]) == (ABC, other)
    assert load_hashes(None) == ()


def test_a_plain_key_or_a_truncated_hash_is_refused_and_the_line_named():
    with pytest.raises(ConfigError, match="line 2: expected an API key hash") as err:
        parse_hashes(["# header", "my-secret-key"], "keys.txt")
    assert "my-secret-key" not in str(err.value)  # the message never repeats what may be a key
    with pytest.raises(ConfigError, match="line 1"):
        parse_hashes([ABC[:-1]], "keys.txt")
    with pytest.raises(ConfigError, match="Cannot read the API keys file"):
        load_hashes(Path("/nonexistent/keys.txt"))


def test_key_matching():
    hashes = (hash_key("first"), ABC, hash_key("third"))
    assert key_matches("abc", hashes) and key_matches(" abc ", hashes) and key_matches("third", hashes)
    assert not key_matches("abd", hashes)
    assert not key_matches(ABC, hashes)  # the hash itself is not a key
    assert not key_matches("", hashes) and not key_matches(None, hashes) and not key_matches("abc", ())


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.org", False), ("10.0.0.1", False),
])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_keys_are_required_beyond_localhost():
    require_keys_for_host("127.0.0.1", ())
    require_keys_for_host("0.0.0.0", (ABC,))
    with pytest.raises(ConfigError, match="Refusing to listen on 0.0.0.0 without API keys"):
        require_keys_for_host("0.0.0.0", ())


@pytest.mark.parametrize(("exc", "status", "reason"), [
    (BadImageError("x", reason="too_large"), 413, "too_large"),
    (BadImageError("x", reason="not_image"), 415, "not_image"),
    (BadImageError("x", reason="bomb"), 422, "bomb"),
    (BadImageError("x", reason="empty"), 422, "empty"),
    (DataFileError("x"), 422, "bad_predictions"),
    (ConfigError("x"), 422, "invalid_field"),
    (ModelBundleError("x"), 503, "model_unavailable"),
])
def test_library_errors_become_refusals(exc, status, reason):
    got = from_skintag_error(exc)
    assert isinstance(got, ApiError) and (got.status, got.reason, got.detail) == (status, reason, "x")


def test_an_unexpected_error_is_a_json_500_without_a_traceback(caplog):
    """The request-id middleware turns any exception into ``internal_error``; the traceback goes to the log only."""
    import asyncio
    import json
    import logging

    from skintag.api.app import RequestLog

    async def broken(scope, receive, send):
        raise RuntimeError("boom at /home/clinic/patient-jane.jpg")

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [(b"x-request-id", b"trace-1")]}
    with caplog.at_level(logging.INFO, logger="skintag.api"):
        asyncio.run(RequestLog(broken)(scope, receive, send))
    start, body = sent[0], sent[1]
    assert start["status"] == 500
    assert (b"x-request-id", b"trace-1") in start["headers"]
    assert json.loads(body["body"]) == {"reason": "internal_error", "request_id": "trace-1",
                                        "detail": "an unexpected error; the server log holds the details under the "
                                                  "request id"}
    assert b"boom" not in body["body"] and b"Traceback" not in body["body"]
    assert "request_id=trace-1 unexpected error" in caplog.text and "RuntimeError" in caplog.text
    assert "request_id=trace-1 method=GET route=- status=500" in caplog.text


def test_command_line_keys(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "skintag.api", "--new-key"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    key = out.split("store nowhere): ")[1].split()[0]
    assert f"hash line (for the keys file): {hash_key(key)}" in out
    hashed = subprocess.run([sys.executable, "-m", "skintag.api", "--hash-key"], input="abc\n", capture_output=True,
                            text=True, timeout=120, check=True).stdout
    assert hashed.strip() == ABC
    bad = tmp_path / "keys.txt"
    bad.write_text("plain-key\n", encoding="utf-8")
    refused = subprocess.run([sys.executable, "-m", "skintag.api", "--keys-file", str(bad)], capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "line 1: expected an API key hash" in refused.stderr


@pytest.mark.parametrize("trusted", ["shipped demo key", "another key"])
def test_the_api_loads_the_bundle_under_the_same_trust_settings_as_the_dashboard(tmp_path, trusted):
    """SKINTAG_TRUSTED_KEYS applies to the API as to the dashboard: the demo bundle, signed by the shipped demo key, is
    served when that key is trusted and refused (503 model_unavailable) when only another key is."""
    import time

    from fastapi.testclient import TestClient

    from skintag.api.app import create_app
    from skintag.model.signing import generate_keypair
    from skintag.settings import Settings

    repo = Path(__file__).resolve().parents[2]
    key = repo / "configs" / "trusted_keys" / "skintag-demo.pub"
    if trusted == "another key":
        key = tmp_path / "other.pub"
        generate_keypair(tmp_path / "other.pem", key)
    settings = Settings(model_dir=repo / "models" / "demo", trusted_keys=(key,), app_data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120
        while (resp := client.get("/readyz")).status_code == 503 and resp.json().get("reason") == "loading":
            assert time.monotonic() < deadline, "the bundle did not finish loading"
            time.sleep(0.2)
    if trusted == "another key":
        assert resp.status_code == 503 and resp.json()["reason"] == "model_unavailable", resp.json()
    else:
        assert resp.status_code == 200 and resp.json()["model"]["name"] == "demo"

