# Every target only calls the CLI (`python -m pipeline`); the logic lives in the package.
# TASK is one of: ecg (default), circles, breast, leukemia, all, blood, marrow (DESIGN 3 and 5).
TASK ?= ecg
ARGS ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: venv stage0 stage1 stage2 stage3 test test-fast bench clean download submit kernels push kaggle-dataset

venv: $(STAMP)

# The venv is (re)built whenever requirements.txt changes.
$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

stage0: $(STAMP)
	$(PY) -m pipeline $(TASK) stage0 $(ARGS)

stage1: $(STAMP)
	$(PY) -m pipeline $(TASK) stage1 $(ARGS)

stage2: $(STAMP)
	$(PY) -m pipeline $(TASK) stage2 $(ARGS)

stage3: $(STAMP)
	$(PY) -m pipeline $(TASK) stage3 $(ARGS)

# Everything (what CI runs); test-fast leaves out the end-to-end tests marked slow.
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) -m pipeline $(TASK) bench $(ARGS)

# Kaggle: the `kaggle` CLI is called as a subprocess; without credentials these fail with one clear line.
download: $(STAMP)
	$(PY) -m pipeline ecg download $(ARGS)

submit: $(STAMP)
	$(PY) -m pipeline ecg submit $(ARGS)

kernels: $(STAMP)
	$(PY) -m pipeline ecg kernels $(ARGS)

push: $(STAMP)
	$(PY) -m pipeline ecg push $(ARGS)

kaggle-dataset: $(STAMP)
	$(PY) -m pipeline ecg kaggle-dataset $(ARGS)

clean:
	rm -rf data work submissions/*.csv
