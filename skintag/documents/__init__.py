"""Documents: self-contained HTML files a user downloads — the case report (:mod:`skintag.documents.case_report`) and
the fairness report (:mod:`skintag.documents.fairness_report`).

This is the top layer of the library: documents import figures (:mod:`skintag.plots`) and the core (triage, fairness),
and nothing below imports a document, so the package has no import cycle (``tests/test_layers.py`` checks it).
"""
