# Two commands do everything on a fresh Debian machine, as root:
#   make demo   set up, start the lab, configure its hosts (ansible-playbook tcra.telco.site) and
#               deploy the manufacturing blueprint on it (pulumi up stacks/lab); print the plan,
#               the endpoints, the chain, and write a picture of what was deployed
#   make test   set up, lint, type-check and run the whole test suite against the lab's peers
VENV := .venv/bin
NODES ?= 3

.PHONY: setup demo test lint unit clean
setup:
	scripts/setup-host

demo: setup
	NODES=$(NODES) scripts/deploy-lab
	@echo "It stays up: 'scripts/deploy-lab destroy' takes the blueprint back, '$(VENV)/tcra lab down' the lab."

lint: setup
	$(VENV)/ruff check .
	scripts/typecheck
	PATH="$(CURDIR)/.venv/bin:$$PATH" ansible-lint collections/ansible_collections/tcra/telco

test: lint
	$(VENV)/pytest -n auto tests/unit
	$(VENV)/pytest -m alone tests/integration tests/e2e
	$(VENV)/pytest -n 2 --dist loadgroup -m "not alone" tests/integration tests/e2e

clean:
	-scripts/deploy-lab destroy
	-$(VENV)/tcra lab down
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache .hypothesis
