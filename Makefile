# Two commands do all set-up on a fresh machine with Python 3.11:  `make app`  and  `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)

.PHONY: app api test lint bench bench-api bench-startup cards venv

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

app: venv
	$(VENV)/bin/streamlit run streamlit_app.py

api: venv  # the HTTP API on http://127.0.0.1:8000 (OpenAPI docs at /docs)
	$(PY) -m skintag.api --host 127.0.0.1 --port 8000

test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check skintag training tests app_pages bench streamlit_app.py

cards: venv
	$(PY) -m skintag.cards build

bench: venv
	$(PY) bench/fairness.py
	$(PY) bench/embeddings.py
	$(PY) bench/triage.py
	$(PY) bench/caselog.py

bench-api: venv  # HTTP overhead against direct triage(), requests/s and latency with 1 and 8 clients
	$(PY) bench/api.py

bench-startup: venv  # needs Debian's chromium at /usr/bin/chromium
	$(PY) bench/startup.py
