"""The HTTP API as a client sees it: real server processes on free local ports, spoken to with ``requests``.

Every answer is compared with the library called directly in this process on the same bytes (the dashboard's own
calls): triage with :func:`skintag.triage.triage`, explanations with the result's attention maps and
:func:`skintag.explain.shap_image.explain_shap`, fairness with :func:`skintag.fairness.fairness_report`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from PIL import Image

from skintag.api import schemas
from skintag.settings import Settings
from skintag.triage import TriageSettings, triage
from tests import imagecases
from tests.api.conftest import API_KEY, CORS_ORIGIN, DEMO, REPO
from tests.api.server import free_port

pytestmark = pytest.mark.slow

#: A file name no log line may contain (the upload's name is the patient's business, not the server's).
SECRET_NAME = "jane-doe-left-forearm.jpg"
TIMEOUT = 120


def real_photos(shared_data: Path) -> list[tuple[str, bytes]]:
    """The triage page's example photos: the first 3 HAM10000 JPEGs and the first 3 PAD-UFES-20 PNGs."""
    out = []
    for folder, suffix in (("ham10000", ".jpg"), ("pad_ufes_20", ".png")):
        files = sorted((shared_data / folder / "images").glob(f"*{suffix}"))[:3]
        assert len(files) == 3, f"expected 3 real photos under {shared_data / folder}"
        out += [(p.name, p.read_bytes()) for p in files]
    return out


def post_image(url: str, data: bytes, headers: dict | None = None, **fields: str) -> requests.Response:
    return requests.post(url, files={"image": (SECRET_NAME, data, "application/octet-stream")}, data=fields,
                         headers=headers, timeout=TIMEOUT)


def direct(bundle, data: bytes, **overrides) -> object:
    """The triage page's call on the same bytes (limits from the default settings)."""
    return triage(bundle, data, settings=TriageSettings.from_settings(Settings(), **overrides))


def flat_png(size: int = 300) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 150, 130)).save(buf, format="PNG")
    return buf.getvalue()


def assert_refusal(resp: requests.Response, status: int, reason: str) -> dict:
    """A refusal: the status, the JSON reason, the request id of the header, a detail sentence, no traceback."""
    assert (resp.status_code, resp.json().get("reason")) == (status, reason), resp.text
    body = resp.json()
    assert set(body) == {"reason", "detail", "request_id"}
    assert body["request_id"] == resp.headers["X-Request-ID"]
    assert len(body["detail"]) > 10
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return body


# ------------------------------------------------------------------------------------------------ health and model


def test_health_ready_and_model(api, demo_bundle):
    assert requests.get(api.url + "/healthz", timeout=TIMEOUT).json() == {"status": "ok"}
    ready = requests.get(api.url + "/readyz", timeout=TIMEOUT).json()
    identity = {"name": "demo", "version": demo_bundle.version, "fingerprint": demo_bundle.fingerprint}
    assert ready == {"status": "ready", "model": identity}
    resp = requests.get(api.url + "/v1/model", timeout=TIMEOUT)
    assert resp.status_code == 200
    got = schemas.ModelSummary.model_validate(resp.json()).model_dump()
    manifest = json.loads((DEMO / "manifest.json").read_text())
    assert {k: got[k] for k in identity} == identity
    assert got["thresholds"] == manifest["thresholds"]
    assert got["domains"] == manifest["domains"] and set(got["domains"]) == {"dermoscopic", "clinical"}
    for spec in got["domains"].values():  # validated tiers: MODERATE is the screening point, HIGH above it
        assert spec["thresholds"]["moderate"] == spec["thresholds"]["screening"] < spec["thresholds"]["high"]
    assert got["operating_points"] == manifest["operating_points"]
    assert got["default_operating_point"] == manifest["default_operating_point"]
    assert got["class_names"] == manifest["class_names"] and len(got["class_names"]) == 10
    assert got["category_map"] == manifest["category_map"]
    assert (got["image_size"], got["embedding_size"]) == (manifest["image_size"], manifest["embedding_size"]) == (28, 576)
    assert got["accepted_domains"] == ["dermoscopic", "clinical", "auto"]
    from skintag.triage import DOMAIN_CHOICES

    assert set(got["accepted_domains"]) == set(DOMAIN_CHOICES)  # the library's choices, in the schema's order
    assert got["limits"] == {"max_upload_bytes": 20 * 1024 * 1024, "max_pixels": 50_000_000,
                             "shap_default_evals": 300, "shap_max_evals": 2000}


def test_openapi_schema_and_docs(api):
    spec = requests.get(api.url + "/openapi.json", timeout=TIMEOUT).json()
    assert {"/v1/triage", "/v1/explain", "/v1/fairness", "/v1/model", "/healthz", "/readyz"} <= set(spec["paths"])
    names = set(spec["components"]["schemas"])
    assert {"TriageResponse", "TriageResult", "ConditionScore", "QualityGate", "ModelInfo", "ModelSummary",
            "Explanation", "FairnessResponse", "FairnessReport", "ErrorBody"} <= names
    body = spec["paths"]["/v1/triage"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["image"] == {**body["properties"]["image"], "type": "string", "format": "binary"}
    assert body["required"] == ["image"]
    assert set(spec["paths"]["/v1/fairness"]["post"]["requestBody"]["content"]) == {"multipart/form-data",
                                                                                    "application/json"}
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        **spec["components"]["securitySchemes"]["APIKeyHeader"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    docs = requests.get(api.url + "/docs", timeout=TIMEOUT)
    assert docs.status_code == 200 and "swagger-ui" in docs.text.lower()


# ----------------------------------------------------------------------------------------------------- same answer


def test_triage_gives_the_dashboards_answer_on_the_real_photos(api, demo_bundle, shared_data):
    photos = real_photos(shared_data)
    for name, data in photos:
        resp = post_image(api.url + "/v1/triage", data)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        schemas.TriageResponse.model_validate(body)
        expected = direct(demo_bundle, data).to_dict()
        assert body["result"] == expected, name  # every field, floats included, exactly
        assert body["result"]["status"] == "ok"
        assert body["model"] == {"name": "demo", "version": demo_bundle.version, "fingerprint": demo_bundle.fingerprint}
        assert body["attention"] is None
    # crop and attention give the page's answer with the same options
    name, data = photos[0]
    crop = (0.1, 0.2, 0.9, 0.8)
    body = post_image(api.url + "/v1/triage", data, crop="0.1,0.2,0.9,0.8", attention="true").json()
    expected = direct(demo_bundle, data, crop=crop, attention=True)
    assert body["result"] == expected.to_dict()
    assert body["result"] != direct(demo_bundle, data).to_dict()  # the crop changed the answer
    np.testing.assert_array_equal(np.asarray(body["attention"]["map_head"], np.float32), expected.attention.map_head)
    np.testing.assert_array_equal(np.asarray(body["attention"]["rollout"], np.float32), expected.attention.rollout)
    assert np.shape(body["attention"]["map_head"]) == (7, 7)  # 28 px / 4 px patches


def test_triage_of_a_photo_that_fails_the_quality_gate_is_a_retake_result_not_a_refusal(api, demo_bundle):
    resp = post_image(api.url + "/v1/triage", flat_png())
    assert resp.status_code == 200
    assert resp.json()["result"] == direct(demo_bundle, flat_png()).to_dict()
    assert resp.json()["result"]["status"] == "retake" and resp.json()["result"]["p_malignant"] is None


def test_domain_field(api, demo_bundle, shared_data):
    """The declared image type reaches the engine: each answer is triage() of the same bytes with that domain."""
    _, data = real_photos(shared_data)[0]
    options = TriageSettings.from_settings(Settings())
    answers = {}
    for domain in ("auto", "dermoscopic", "clinical"):
        resp = post_image(api.url + "/v1/triage", data, domain=domain)
        assert resp.status_code == 200, resp.text
        answers[domain] = resp.json()["result"]
        assert answers[domain] == triage(demo_bundle, data, settings=options, domain=domain).to_dict(), domain
    assert answers["dermoscopic"]["domain"] == "dermoscopic" and answers["clinical"]["domain"] == "clinical"
    assert answers["dermoscopic"]["p_malignant"] != answers["clinical"]["p_malignant"]  # each domain's calibrator


def test_eight_concurrent_clients_get_the_direct_answers_without_an_error(api, demo_bundle, shared_data):
    photos = real_photos(shared_data)
    expected = {name: direct(demo_bundle, data).to_dict() for name, data in photos}
    jobs = [photos[(client + k) % len(photos)] for client in range(8) for k in range(4)]

    def one(job: tuple[str, bytes]) -> tuple[str, int, dict]:
        resp = post_image(api.url + "/v1/triage", job[1])
        return job[0], resp.status_code, resp.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, jobs))
    assert [status for _, status, _ in results] == [200] * 32
    for name, _, body in results:
        assert body["result"] == expected[name], name


# ---------------------------------------------------------------------------------------------------- explanations


def decode_png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


@pytest.mark.parametrize("method", ["attention", "rollout"])
def test_attention_explanations_are_the_pages_maps_and_overlays(api, demo_bundle, shared_data, method):
    from skintag.explain.attention import overlay

    _, data = real_photos(shared_data)[3]
    resp = post_image(api.url + "/v1/explain", data, method=method)
    assert resp.status_code == 200, resp.text
    body = schemas.Explanation.model_validate(resp.json())
    result = direct(demo_bundle, data, attention=True)
    heat = result.attention.map_head if method == "attention" else result.attention.rollout
    np.testing.assert_array_equal(np.asarray(body.map, np.float32), heat)
    assert body.grid == [7, 7] and body.image_size == [300, 300] and body.values is None and body.shap is None
    picture = decode_png(body.overlay_png)
    assert picture.size == result.image.size
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(overlay(result.image, heat)))


def test_shap_is_served_from_the_pages_cache(api, demo_bundle, shared_data, app_data_dir):
    from skintag.explain.shap_image import explain_shap

    _, data = real_photos(shared_data)[0]
    first = post_image(api.url + "/v1/explain", data, method="shap", budget="40")
    assert first.status_code == 200, first.text
    body = schemas.Explanation.model_validate(first.json())
    assert body.shap is not None and not body.shap.cached and body.shap.n_evals > 0 and body.shap.max_evals == 40
    values = np.asarray(body.values, np.float32)
    assert values.shape == (28, 28) and body.grid == [28, 28]
    heat = np.asarray(body.map, np.float32)
    # the page's map: positive evidence divided by the largest |value|
    np.testing.assert_allclose(heat, np.clip(values / np.abs(values).max(), 0, 1), rtol=1e-6, atol=1e-7)
    assert 0 < heat.max() <= 1 and heat.min() == 0
    # the page's call (same image, budget and cache folder) finds the API's entry
    page = explain_shap(demo_bundle, direct(demo_bundle, data).image, max_evals=40, cache_dir=app_data_dir)
    assert page.cached
    np.testing.assert_array_equal(page.values, values)
    assert (page.base_value, page.prediction) == (body.shap.base_value, body.shap.prediction)
    again = schemas.Explanation.model_validate(post_image(api.url + "/v1/explain", data, method="shap",
                                                          budget="40").json())
    assert again.shap.cached and again.shap.n_evals == 0
    np.testing.assert_array_equal(np.asarray(again.values, np.float32), values)


# ------------------------------------------------------------------------------------------------------- fairness


PREDICTIONS = DEMO / "eval" / "predictions_pad_ufes_20.csv"


def direct_report(df: pd.DataFrame, **kw) -> dict:
    from skintag.fairness import fairness_report, validate_predictions

    checked = validate_predictions(df, "y_true", "y_score", ["fitzpatrick"])
    rep = fairness_report(checked.y_true, checked.y_score, df["fitzpatrick"], grouping="six", **kw)
    return json.loads(rep.to_json())


def test_fairness_report_from_a_csv_upload_and_from_json_rows(api):
    df = pd.read_csv(PREDICTIONS)
    resp = requests.post(api.url + "/v1/fairness", files={"predictions": ("preds.csv", PREDICTIONS.read_bytes())},
                         data={"n_boot": "200", "tolerance": "0.1"}, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    body = schemas.FairnessResponse.model_validate(resp.json()).model_dump()
    # no threshold asked: the bundle's own rule per domain, computed by the engine the page, CLI and card share
    from skintag.fairness.rules import audit_table

    manifest = json.loads((DEMO / "manifest.json").read_text())
    expected = audit_table(df, manifest, n_boot=200, tolerance=0.1, random_state=0, grouping="six",
                           min_positives=5, min_negatives=5, ci=0.95, include_flagged=False,
                           reference="between_groups")
    assert resp.json()["report"] == json.loads(expected.to_json())
    assert body["threshold_source"] == expected.rule and "MODERATE or above" in body["threshold_source"]
    assert "recorded beside each photo" in body["threshold_source"]  # each photo's out-of-fold threshold
    assert body["report"]["n_rows"] == len(df) == 249
    # the same rows as JSON, with an explicit threshold
    rows = df.astype(object).where(df.notna(), None).to_dict(orient="records")  # exact floats, NaN as null
    resp = requests.post(api.url + "/v1/fairness", json={"rows": rows, "threshold": 0.3, "n_boot": 200},
                         timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert resp.json()["report"] == direct_report(df, threshold=0.3, n_boot=200, random_state=0)
    assert resp.json()["threshold_source"] == "request"


# --------------------------------------------------------------------------------------------------- bad input


IMAGE_REFUSALS = [(name, factory, reason) for name, factory, (kind, reason) in imagecases.CASES if kind == "error"]
STATUS = {"too_large": 413, "not_image": 415}


@pytest.mark.parametrize(("name", "factory", "reason"), IMAGE_REFUSALS, ids=[c[0] for c in IMAGE_REFUSALS])
def test_hostile_images_are_refused_with_the_pages_reason(api, name, factory, reason):
    resp = post_image(api.url + "/v1/triage", factory())
    assert_refusal(resp, STATUS.get(reason, 422), reason)


def test_the_hostile_image_table_has_every_reason():
    assert {r for _, _, r in IMAGE_REFUSALS} == {"empty", "not_image", "truncated", "bomb", "too_large", "animated"}
    assert len(IMAGE_REFUSALS) >= 10


def test_a_cpu_bomb_is_refused_from_its_header_in_the_worker_thread(api):
    """The API decodes in its worker thread, so the decoder's structural limits are what protect it: a progressive JPEG
    repeating its last scan is refused as ``too_complex`` (a listed reason) before any scan is decoded."""
    from skintag.api.errors import REASONS
    from tests.security.hostile import scan_bomb

    body = assert_refusal(post_image(api.url + "/v1/triage", scan_bomb(side=2000, scans=200)), 422, "too_complex")
    assert "JPEG scans" in body["detail"] and "too_complex" in REASONS


def test_bad_requests_are_refused_with_their_reason(api, shared_data):
    _, photo = real_photos(shared_data)[0]
    url = api.url
    csv_bad = PREDICTIONS.read_text().replace(",1,", ",2,", 1).encode()
    cases = [
        (requests.post(url + "/v1/triage", files={"crop": (None, "0.1,0.1,0.9,0.9")}, timeout=TIMEOUT), 422,
         "missing_field"),
        (requests.post(url + "/v1/triage", json={"image": "aGVsbG8="}, timeout=TIMEOUT), 415,
         "unsupported_content_type"),
        (post_image(url + "/v1/triage", photo, crop="0.9,0.1,0.1,0.9"), 422, "invalid_field"),
        (post_image(url + "/v1/triage", photo, crop="a,b"), 422, "invalid_field"),
        (post_image(url + "/v1/triage", photo, domain="xray"), 422, "invalid_field"),
        (post_image(url + "/v1/triage", photo, colour="red"), 422, "invalid_field"),
        (requests.post(url + "/v1/triage", files={"image": (None, "not a file")}, timeout=TIMEOUT), 422,
         "invalid_field"),
        (requests.post(url + "/v1/triage", files={"image": ("a.jpg", photo), "crop": ("c.txt", b"0,0,1,1")},
                       timeout=TIMEOUT), 422, "invalid_field"),
        (post_image(url + "/v1/explain", photo, method="gradcam"), 422, "invalid_field"),
        (post_image(url + "/v1/explain", photo), 422, "missing_field"),
        (post_image(url + "/v1/explain", photo, method="shap", budget="10"), 422, "invalid_field"),
        (post_image(url + "/v1/explain", photo, method="shap", budget="5000"), 422, "invalid_field"),
        (post_image(url + "/v1/explain", flat_png(), method="attention"), 422, "retake"),
        (requests.post(url + "/v1/fairness", files={"predictions": ("p.csv", csv_bad)}, timeout=TIMEOUT), 422,
         "bad_predictions"),
        (requests.post(url + "/v1/fairness", files={"predictions": ("p.csv", PREDICTIONS.read_bytes())},
                       data={"group_column": "skin"}, timeout=TIMEOUT), 422, "bad_predictions"),
        (requests.post(url + "/v1/fairness", json={"rows": []}, timeout=TIMEOUT), 422, "invalid_field"),
        (requests.post(url + "/v1/fairness", data=b"{not json", headers={"Content-Type": "application/json"},
                       timeout=TIMEOUT), 400, "bad_request_body"),
        (requests.post(url + "/v1/triage", data=b"--x\r\nnonsense", timeout=TIMEOUT,
                       headers={"Content-Type": "multipart/form-data"}), 400, "bad_request_body"),  # no boundary
        (requests.get(url + "/v1/nothing", timeout=TIMEOUT), 404, "not_found"),
        (requests.get(url + "/v1/triage", timeout=TIMEOUT), 405, "method_not_allowed"),
    ]
    for i, (resp, status, reason) in enumerate(cases):
        body = assert_refusal(resp, status, reason)
        assert "Traceback" not in body["detail"], i
    # the refusal names the field and what is wrong, never the value sent
    detail = post_image(url + "/v1/explain", photo, method="gradcam").json()["detail"]
    assert "method" in detail and "attention" in detail


def test_limits_come_from_the_settings(keyed_api, shared_data):
    headers = {"X-API-Key": API_KEY}
    _, photo = real_photos(shared_data)[0]  # 600 × 450 = 270,000 pixels > SKINTAG_MAX_PIXELS=100000
    assert_refusal(post_image(keyed_api.url + "/v1/triage", photo, headers), 422, "bomb")
    big = photo + bytes(int(2.5 * 1024 * 1024))  # over SKINTAG_MAX_UPLOAD_MB=1 with the 1 MiB framing allowance
    assert_refusal(post_image(keyed_api.url + "/v1/triage", big, headers), 413, "too_large")
    just_over = photo + bytes(1024 * 1024 + 1 - len(photo))  # under the body limit, over the image limit
    assert_refusal(post_image(keyed_api.url + "/v1/triage", just_over, headers), 413, "too_large")
    small = imagecases.rgba_png_pad()  # 300 × 300 = 90,000 pixels: within both limits
    assert post_image(keyed_api.url + "/v1/triage", small, headers).status_code == 200


# -------------------------------------------------------------------------------------------------------- access


def test_api_keys_when_configured(keyed_api):
    url = keyed_api.url
    small = imagecases.rgba_png_pad()
    assert_refusal(requests.get(url + "/v1/model", timeout=TIMEOUT), 401, "missing_api_key")
    assert_refusal(requests.get(url + "/v1/model", headers={"X-API-Key": API_KEY + "x"}, timeout=TIMEOUT), 401,
                   "invalid_api_key")
    assert_refusal(post_image(url + "/v1/triage", small), 401, "missing_api_key")
    assert_refusal(post_image(url + "/v1/triage", small, {"X-API-Key": ""}), 401, "missing_api_key")
    assert requests.get(url + "/v1/model", headers={"X-API-Key": API_KEY}, timeout=TIMEOUT).status_code == 200
    assert post_image(url + "/v1/triage", small, {"X-API-Key": API_KEY}).json()["result"]["status"] == "ok"
    for path in ("/healthz", "/readyz", "/openapi.json"):  # operations and the schema stay open
        assert requests.get(url + path, timeout=TIMEOUT).status_code == 200
    assert "X-API-Key" not in keyed_api.log() and API_KEY not in keyed_api.log()


def test_no_keys_needed_on_localhost_without_keys(api):
    assert requests.get(api.url + "/v1/model", timeout=TIMEOUT).status_code == 200


def test_a_server_bound_beyond_localhost_refuses_to_start_without_keys(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKINTAG_API_")}
    out = subprocess.run([sys.executable, "-m", "skintag.api", "--host", "0.0.0.0", "--port", str(port)], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without API keys" in out.stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_cors_is_off_unless_origins_are_configured(api, keyed_api):
    preflight = {"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "X-API-Key"}
    off = requests.options(api.url + "/v1/triage", headers=preflight, timeout=TIMEOUT)
    assert "access-control-allow-origin" not in off.headers
    assert "access-control-allow-origin" not in requests.get(api.url + "/healthz", headers={"Origin": CORS_ORIGIN},
                                                             timeout=TIMEOUT).headers
    on = requests.options(keyed_api.url + "/v1/triage", headers=preflight, timeout=TIMEOUT)
    assert on.status_code == 200 and on.headers["access-control-allow-origin"] == CORS_ORIGIN
    other = requests.options(keyed_api.url + "/v1/triage", headers={**preflight, "Origin": "https://evil.example"},
                             timeout=TIMEOUT)
    assert "access-control-allow-origin" not in other.headers


# ----------------------------------------------------------------------------------------------------------- logs


def test_log_has_request_ids_and_no_file_names_or_image_bytes(api, shared_data):
    _, photo = real_photos(shared_data)[0]
    resp = post_image(api.url + "/v1/triage", photo, headers={"X-Request-ID": "client-trace-42"})
    assert resp.headers["X-Request-ID"] == "client-trace-42"
    bad = post_image(api.url + "/v1/triage", imagecases.text_renamed_jpg())
    generated = bad.headers["X-Request-ID"]
    assert len(generated) == 32 and generated != "client-trace-42"
    odd = post_image(api.url + "/v1/triage", photo, headers={"X-Request-ID": "not ok\u00e9 " * 10})
    replaced = odd.headers["X-Request-ID"]  # an unusable id is replaced by a generated one
    assert re.fullmatch(r"[0-9a-f]{32}", replaced) and replaced != generated
    log = api.log()
    lines = [line for line in log.splitlines() if "request_id=client-trace-42 " in line]
    assert len(lines) == 1 and "route=/v1/triage status=200" in lines[0]
    assert f"request_id={generated} method=POST route=/v1/triage status=415" in log and "reason=not_image" in log
    assert SECRET_NAME not in log and "ISIC_" not in log and "PAT_" not in log
    assert "Patient notes" not in log  # the text file's bytes
    assert "\ufffd" not in log and "JFIF" not in log and "PNG" not in log  # no binary content
    assert "Traceback" not in log


def test_settings_range_checks():
    from skintag.errors import ConfigError

    for field, value in (("api_port", 0), ("api_port", 70000), ("api_threads", 0), ("api_max_shap_evals", 5)):
        with pytest.raises(ConfigError, match=field):
            replace(Settings(), **{field: value})
    assert replace(Settings(), api_threads=64).api_threads == 64
