"""docs/privacy.md lists every field of the triage result and the case JSON (a new field fails this test until it is
listed), and the uploaded file's name never reaches an export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from skintag.documents.case_report import CaseDetails, case_json, render_report_html
from skintag.triage import QualityGate, rejected_result

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def _section_fields(title: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8").split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M)


def _result():
    return rejected_result(QualityGate("reject", ("too small",), ()), model={"name": "m", "version": "1"})


def test_result_fields_are_listed():
    assert _section_fields("Triage result") == list(_result().to_dict())


def test_case_json_fields_are_listed_and_file_names_dropped():
    extra = {"crop": None, "domain_choice": "auto", "file_name": "Jane_Doe_MRN123.jpg", "path": "/home/x/Jane.jpg"}
    text = case_json(_result(), details=CaseDetails(case_id="c1"), extra=extra)
    payload = json.loads(text)
    assert "Jane" not in text and "MRN123" not in text
    assert payload["extra"] == {"crop": None, "domain_choice": "auto"}
    listed = set(_section_fields("Triage result")) | set(_section_fields("Case JSON"))
    assert set(payload) == listed
    assert "Jane" not in render_report_html(_result(), overlays={}, details=CaseDetails(case_id="c1"))
