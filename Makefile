# Two commands for a newcomer: `make run` (a demo site on http://127.0.0.1:8000; another port with
# `make run PORT=8001`) and `make test`.
# Everything lives in .venv; pip runs again only when a requirements file changes (stamp files).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
REQS_STAMP := $(VENV)/.requirements.stamp
DEV_REQS_STAMP := $(VENV)/.requirements-dev.stamp

.PHONY: run test bench

$(PY):
	$(PYTHON) -m venv $(VENV)

$(REQS_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_REQS_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Created only when the database has no superuser yet, so a changed password is never reset.
define CREATE_DEV_SUPERUSER
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.filter(is_superuser=True).exists():
    User.objects.create_superuser("admin", "admin@localhost", "admin")
    print("Development superuser created: user 'admin', password 'admin' (http://127.0.0.1:$(PORT)/admin/)")
endef
export CREATE_DEV_SUPERUSER

# Development mode: debug on, the development secret key, SQLite and in-process tasks by default.
# The .mo files are committed, so compiling translations is a refresh where gettext is installed.
run: export DJANGO_DEBUG = true
run: $(REQS_STAMP)
	$(PY) manage.py migrate --noinput
	@if command -v msgfmt >/dev/null 2>&1 && [ -d locale ]; then \
		$(PY) manage.py compilemessages --ignore=$(VENV) --verbosity=0; \
	else \
		echo "msgfmt not found: using the committed translations"; \
	fi
	$(PY) manage.py seed_demo
	@$(PY) manage.py shell --verbosity=0 -c "$$CREATE_DEV_SUPERUSER"
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(DEV_REQS_STAMP)
	$(PY) -m pytest

# bench/run.py drops and recreates a database of its own, BENCH_DATABASE_URL (default: PostgreSQL's
# baloo_bench on 127.0.0.1), never DATABASE_URL's. Options pass through: make bench BENCH_ARGS="--records 100000"
bench: $(REQS_STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)
