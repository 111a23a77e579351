# The README's two commands: `make demo` (compare the stacks) and `make test`.
# Each sets itself up on a fresh machine: a virtualenv, the package, a broker check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs/demo

.PHONY: demo test lint bench broker-check redis-check docker-image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

broker-check:
	@command -v rabbitmq-server >/dev/null 2>&1 || test -x /usr/sbin/rabbitmq-server || { \
	  echo "rabbitmq-server is not installed: sudo apt-get install -y rabbitmq-server"; exit 3; }

# the tests start a private Redis (tests/redis): the server, never the machine's service
redis-check:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server is not installed: sudo apt-get install -y redis-server"; exit 3; }

# the quick preset: every stack through the write-up's experiments, 10 to 11 minutes (88 cells: 9 min 35 s and 10 min 53 s here, 2026-12-07)
# (`mqcompare presets`); the report is $(OUT)/report.html (a rerun replaces the previous
# demo's directory). A cell this machine cannot run (a partition without nftables, a
# container without a Docker engine) is skipped, saying what to install.
demo: $(STAMP) broker-check
	rm -rf $(OUT)
	$(BIN)/mqcompare matrix --preset quick --out $(OUT)

# RabbitMQ in Docker without a registry: Debian's packages via debootstrap, about a minute;
# kept once built (docs/reference.md, "Broker"). RABBITMQ=3.10 (Debian 12) is
# mqcompare/rabbitmq:local; RABBITMQ=4.0 (Debian 13) is mqcompare/rabbitmq:4.0
RABBITMQ ?= 3.10
docker-image:
	RABBITMQ=$(RABBITMQ) bash rabbitmq-image/build-image.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mqcompare scenarios_pika scenarios_kombu scenarios_celery scenarios_aiopika scenarios_dramatiq scenarios_amqpstorm scenarios_taskiq scenarios_amqp10 shared_clients consumer
	$(BIN)/lint-imports

# with a Docker engine, the Docker tests need both images (each built once, about a minute);
# without one they skip, saying so
test: $(STAMP) broker-check redis-check lint
	@if docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory docker-image; \
	  $(MAKE) --no-print-directory docker-image RABBITMQ=4.0; fi
	$(BIN)/pytest

bench: $(STAMP) broker-check
	$(BIN)/python bench/publish_rate.py --stack pika
	$(BIN)/python bench/publish_rate.py --stack kombu --confirms-too
	$(BIN)/python bench/celery_rate.py
	$(BIN)/python bench/check_rate.py
	$(BIN)/python bench/fault_lag.py
	$(BIN)/python bench/aiopika_rate.py
	$(BIN)/python bench/fastest_safe.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
