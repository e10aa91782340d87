# The gateway's everyday commands. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: help run test build lint fmt openapi bench helm-lint docker image-check token contract

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Build every crate and target once (debug)
	$(CARGO) build --workspace --all-targets --locked

run: ## Start the demo: simulator + gateway (embedded store) on 127.0.0.1:8080, print a token
	./scripts/demo.sh

test: build ## Run the whole test suite (Redis at $(REDIS_URL), else a private redis-server it starts), then the contract run
	CARGO=$(CARGO) REDIS_URL=$(REDIS_URL) ./scripts/test.sh
	CARGO=$(CARGO) REDIS_URL=$(REDIS_URL) ./scripts/contract.sh

contract: ## The contract run alone: schemathesis, Redocly lint, a generated client, Swagger UI in chromium (scripts/contract.sh)
	CARGO=$(CARGO) REDIS_URL=$(REDIS_URL) ./scripts/contract.sh

lint: ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

openapi: ## Regenerate openapi/openapi.json from the code
	$(CARGO) run --quiet --locked -p gateway-api -- openapi > openapi/openapi.json
	$(CARGO) run --quiet --locked -p gateway-api -- openapi --errors > openapi/errors.md

token: ## Print a development token with every scope (tenant "demo")
	GATEWAY_AUTH__ALLOW_DEV_SECRET=true $(CARGO) run --quiet --locked -p gateway-api -- token --tenant demo \
	  --scope "numbers:read numbers:check accounts:read accounts:write sessions:write actions:write business:read events:read events:write admin" --ttl 12h

BENCH_ARGS ?=
bench: ## Benchmarks vs nginx, haproxy, redis-benchmark (installs them if missing; the image's build profile); writes docs/benchmarks.md
	./scripts/bench.sh $(BENCH_ARGS)

helm-lint: ## Lint, render and check the Helm chart (no helm binary or cluster needed; venv in .venv-helm)
	./scripts/helm-lint.sh

IMAGE ?= wa-gateway/gateway-api
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE ?= $(shell git remote get-url origin 2>/dev/null)

docker: ## Build the container image (IMAGE, IMAGE_TAG; needs a Docker engine with BuildKit)
	@command -v docker >/dev/null 2>&1 || { echo "make docker needs a Docker engine (docker CLI + daemon); none found" >&2; exit 1; }
	DOCKER_BUILDKIT=1 docker build --pull -t $(IMAGE):$(IMAGE_TAG) \
	  --build-arg VERSION=$(IMAGE_TAG) --build-arg REVISION=$(REVISION) --build-arg SOURCE=$(SOURCE) .

image-check: ## Check the image's build steps on a fresh copy of the repository (no Docker engine needed)
	CARGO=$(CARGO) ./scripts/image-build.sh check
