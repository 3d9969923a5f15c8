"""Fixtures of the API tests: real server processes (``python -m skintag.api``) on free local ports, and the same
model bundle loaded in the test process for the direct calls the answers are compared with."""

from __future__ import annotations

from pathlib import Path

import pytest

from skintag.api.security import hash_key
from tests.api.server import ApiServer

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models" / "demo"
#: The key the keyed server accepts (its keys file holds only the hash).
API_KEY = "test-key-5b1f0c8e-not-a-secret"
CORS_ORIGIN = "https://ehr.example.org"


@pytest.fixture(scope="session")
def demo_bundle():
    from skintag.model import load_bundle

    return load_bundle(DEMO)


@pytest.fixture(scope="session")
def app_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's SKINTAG_APP_DATA_DIR (its SHAP cache), empty at the start of the session."""
    return tmp_path_factory.mktemp("api_app_data")


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory, app_data_dir: Path, shared_data: Path):
    """The default server: localhost, no keys, CORS off, default limits, two worker processes."""
    log = tmp_path_factory.mktemp("api_log") / "server.log"
    server = ApiServer(log, "--workers", "2", env={"SKINTAG_MODEL_DIR": str(DEMO),
                                                   "SKINTAG_APP_DATA_DIR": str(app_data_dir),
                                                   "SKINTAG_DATA_DIR": str(shared_data)})
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def keyed_api(tmp_path_factory: pytest.TempPathFactory):
    """A server with API keys (a keys file of hashes), one CORS origin and small limits (1 MiB, 100,000 pixels)."""
    folder = tmp_path_factory.mktemp("api_keyed")
    keys = folder / "keys.txt"
    keys.write_text(f"# API keys of the test server\n{hash_key(API_KEY)} test-client\n\n", encoding="utf-8")
    server = ApiServer(folder / "server.log", "--keys-file", str(keys), "--cors-origin", CORS_ORIGIN,
                       env={"SKINTAG_MODEL_DIR": str(DEMO), "SKINTAG_APP_DATA_DIR": str(folder / "data"),
                            "SKINTAG_MAX_UPLOAD_MB": "1", "SKINTAG_MAX_PIXELS": "100000"})
    yield server.start()
    server.stop()
