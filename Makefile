# Two commands do everything on a fresh Debian machine, as root:
#   make demo   set up, start the lab, validate its inventory, list its hosts with live power
#   make test   set up, lint, type-check and run the whole test suite against the lab's peers
VENV := .venv/bin
NODES ?= 3

.PHONY: setup demo test lint unit clean
setup:
	scripts/setup-host

demo: setup
	$(VENV)/tcra lab up --nodes $(NODES)
	$(VENV)/tcra validate inventories/lab
	$(VENV)/tcra hosts inventories/lab
	@echo "The lab stays up: try '$(VENV)/tcra lab status', then '$(VENV)/tcra lab down'."

lint: setup
	$(VENV)/ruff check .
	scripts/typecheck
	cd collections/ansible_collections/tcra/telco && PATH="$(CURDIR)/.venv/bin:$$PATH" ansible-lint --profile production

test: lint
	$(VENV)/pytest

clean:
	-$(VENV)/tcra lab down
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache .hypothesis
