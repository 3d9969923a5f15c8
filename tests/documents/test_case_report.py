"""The case exports: optional clinician details (escaped in HTML), the domain fields, and no uploaded file name."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from skintag.documents.case_report import OUT_OF_DOMAIN_TEXT, CaseDetails, case_json, render_report_html
from skintag.errors import ArgumentError
from skintag.triage import triage_from_probabilities

CATEGORY_MAP = {0: "malignant", 1: "malignant", 2: "malignant", 3: "malignant", 4: "benign", 5: "benign",
                6: "inflammatory", 7: "inflammatory", 8: "inflammatory", 9: "benign"}


def _result(p: float = 0.4):
    probs = [0.0] * 10
    probs[4] = 1.0
    return triage_from_probabilities(p, probs, thresholds={"moderate": 0.3, "high": 0.6}, category_map=CATEGORY_MAP)


def test_case_details_normalise_and_validate():
    d = CaseDetails(case_id="  C-1 ", skin_type="4")
    assert (d.case_id, d.skin_type, d.lesion_id) == ("C-1", "IV", "")
    assert CaseDetails(skin_type="vi").skin_type == "VI" and CaseDetails(skin_type="unknown").skin_type == ""
    assert CaseDetails().empty and not d.empty
    assert d.to_dict() == {"case_id": "C-1", "lesion_id": None, "body_site": None, "skin_type": "IV", "note": None}
    for bad in ("7", "III-IV", "pale"):
        with pytest.raises(ArgumentError, match="Fitzpatrick"):
            CaseDetails(skin_type=bad)
    with pytest.raises(ArgumentError, match="at most 2000"):
        CaseDetails(note="x" * 2001)


def test_json_carries_case_details_and_drops_the_file_name():
    details = CaseDetails(case_id="C-9", lesion_id="L1", body_site="back", skin_type="II", note="new since May")
    payload = json.loads(case_json(_result(), details=details,
                                   extra={"file_name": "Jane_Doe.jpg", "crop": [0.1, 0.1, 0.9, 0.9]}))
    assert payload["case"] == details.to_dict()
    assert payload["extra"] == {"crop": [0.1, 0.1, 0.9, 0.9]}
    assert "Jane_Doe" not in json.dumps(payload)
    for key in ("domain", "domain_source", "in_domain", "domain_distance", "domain_threshold"):
        assert key in payload
    assert json.loads(case_json(_result()))["case"] == CaseDetails().to_dict()


def test_html_escapes_every_case_field():
    evil = "<img src=x onerror=alert(1)>"
    details = CaseDetails(case_id=evil, lesion_id="L&1", body_site='"arm"', skin_type="V", note=f"{evil}\nline 2")
    html = render_report_html(_result(), details=details)
    assert "<img src=x" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 2
    assert "L&amp;1" in html and "&quot;arm&quot;" in html and "<td>V</td>" in html
    assert "Fitzpatrick skin type" in html and "Clinician note" in html
    assert "<h2>Case</h2>" not in render_report_html(_result())  # no empty section
    assert "ABCDE guide" in html and "self-check" not in html


def test_html_out_of_domain_banner_and_no_interval():
    base = _result(0.4)
    if not hasattr(base, "in_domain"):
        pytest.fail("TriageResult has no in_domain field yet (issue 8, H8-core)")
    inside = replace(base, p_interval=(0.3, 0.5), in_domain=True, domain="dermoscopic", domain_source="declared",
                     domain_distance=1.5, domain_threshold=3.0)
    html_in = render_report_html(inside)
    assert OUT_OF_DOMAIN_TEXT not in html_in and "inside the validated domain: <b>yes</b>" in html_in
    outside = replace(inside, in_domain=False, domain_distance=4.2, p_interval=None)
    html_out = render_report_html(outside)
    assert "data-testid='out-of-domain'" in html_out and "no interval applies" in html_out
    assert "inside the validated domain: <b>no</b>" in html_out and "distance 4.20 (limit 3.00)" in html_out
    # an interval carried by an out-of-domain result is still not presented as applying
    assert "30%–50%" not in render_report_html(replace(outside, p_interval=(0.3, 0.5), interval_label=""))
