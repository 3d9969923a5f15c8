# Two commands do all set-up on a fresh machine with Python 3.11:  `make app`  and  `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)

.PHONY: app test lint bench bench-startup cards venv

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

app: venv
	$(VENV)/bin/streamlit run streamlit_app.py

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

bench-startup: venv  # needs Debian's chromium at /usr/bin/chromium
	$(PY) bench/startup.py
