# One entry point for developers and CI. Every target sets up its own virtual environment.
#   make test    set up and run everything CI runs: lint, format check, types, tests
#   make bench   run the benchmarks (they print figures; nothing asserts on time)
#   make bundle  the kiosk frozen by PyInstaller (dist/gea-kiosk/), smoke-tested
#   make deb     the Debian package of that bundle (dist/gea-kiosk_<version>_<arch>.deb)

PYTHON ?= python3
# Tests run in parallel, one process per core; each process has its own template database.
PYTEST_ARGS ?= -n auto
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck pytest bench lock clean demo translations screenshots bundle deb

test: lint typecheck pytest

# The product on this machine: feedback_db (yours on 127.0.0.1:5432, else an embedded one), the
# demo server on 127.0.0.1 and the kiosk in a window; tickets are printed as they are made.
# Staff PIN 123456.
demo: $(STAMP)
	$(BIN)/gea-kiosk demo

# A PNG of every kiosk screen, in English and Spanish, into docs/screenshots/all.
screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/gea-kiosk screenshots --out docs/screenshots/all

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[server,kiosk,demo,dev,bundle]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.db_ingest
	$(BIN)/python -m bench.sync_server
	$(BIN)/python -m bench.kiosk_drain
	$(BIN)/python -m bench.kiosk_submit
	$(BIN)/python -m bench.kiosk_ui
	$(BIN)/python -m bench.bundle
	$(BIN)/python -m bench.embedded_pg
	$(BIN)/python -m bench.desk
	$(BIN)/python -m bench.sla_scan
	$(BIN)/python -m bench.portal
	$(BIN)/python -m bench.analytics
	$(BIN)/python -m bench.chaos
	$(BIN)/python -m bench.soak

# Where the bundle and the package go (the packaging tests build theirs elsewhere).
DIST ?= dist
BUNDLE_WORK ?= build/pyinstaller

bundle: $(STAMP)
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath $(DIST) --workpath $(BUNDLE_WORK) installer/gea-kiosk.spec
	$(BIN)/python installer/smoke_test.py $(DIST)/gea-kiosk/gea-kiosk

deb: bundle
	$(BIN)/python installer/linux/build_deb.py --bundle $(DIST)/gea-kiosk --out $(DIST)

# Extract the UI's strings, fill in the Spanish (tools/spanish.py) and compile them.
translations: $(STAMP)
	$(BIN)/pyside6-lupdate $$(find kiosk/ui -name '*.py' | sort) -ts resources/i18n/kiosk_es.ts -no-obsolete
	$(BIN)/python tools/spanish.py resources/i18n/kiosk_es.ts
	$(BIN)/pyside6-lrelease resources/i18n/kiosk_es.ts -qm resources/i18n/kiosk_es.qm

# Refresh the pinned versions after changing dependency ranges in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
