# groupsd: `make run` to start it, `make test` to check everything.
# Only Go, a C compiler and Node are needed; `make test` sets up the rest
# itself: Chromium from Debian (`make tools`) and the Node tools (`npm ci` in
# contract/run.sh, on first use).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# FTS5 (trigram search index) is compiled into SQLite only with this tag.
export GOFLAGS := -tags=sqlite_fts5
export CGO_ENABLED := 1

BIN      := bin/groupsd
DATABASE ?= sqlite:groups.db
ADDR     ?= 127.0.0.1:8080
FUZZTIME ?= 15s

.PHONY: all build run generate check-generated vet lint api-gate tools test test-go contract fuzz fuzz-short bench bench-quick clean

all: build

build:
	go build -o $(BIN) ./cmd/groupsd

# Starts the server on SQLite. On first run (no database file yet) it creates
# a development API key for organization "dev" in .dev-key.
run: build
	@if [ ! -s .dev-key ] || [ ! -f "$(patsubst sqlite:%,%,$(DATABASE))" ]; then \
		./$(BIN) keys create --org dev --name "make run" --database "$(DATABASE)" > .dev-key; fi
	@echo "API key for organization dev (in .dev-key):"
	@echo "  curl -H \"Authorization: Bearer $$(cat .dev-key)\" http://$(ADDR)/api/v2/groups"
	./$(BIN) serve --addr $(ADDR) --database "$(DATABASE)" --log-format text

generate:
	cd gen && go generate ./...

# Fails when gen/ does not match openapi.yaml: every gen/**/*.cfg.yaml is
# regenerated into a temporary file and compared with the committed one.
check-generated:
	@echo "== check gen/ is fresh"
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	for cfg in $$(find gen -name '*.cfg.yaml' | sort); do \
		out=$$(dirname $$cfg)/$$(sed -n 's/^output: //p' $$cfg); \
		sed "s#^output: .*#output: $$tmp/out.go#" $$cfg > $$tmp/cfg.yaml; \
		go tool oapi-codegen -config $$tmp/cfg.yaml openapi.yaml; \
		cmp -s $$tmp/out.go $$out || { echo "$$out is stale: run make generate"; exit 1; }; \
	done

vet:
	@echo "== go vet, gofmt, go mod tidy"
	go vet ./...
	go mod tidy -diff
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }

# golangci-lint and oasdiff are pinned in their own module (.ci/tools/go.mod),
# so the server's go.mod stays small; `go tool` builds each once into the Go
# build cache (golangci-lint takes about 4 minutes cold on 2 cores).
TOOL := go tool -modfile=.ci/tools/go.mod

# Zero findings; the configuration and its reasons are in .golangci.yml.
lint:
	@echo "== golangci-lint"
	$(TOOL) golangci-lint run ./...

# The contract must not break clients silently: openapi.yaml against the last
# released contract (contract/baseline/openapi.yaml) and CHANGELOG.md, then
# the gate's own self-test (a deliberately broken copy must fail).
api-gate:
	@echo "== breaking-change gate (oasdiff)"
	.ci/api-gate
	.ci/api-gate-test

test-go:
	@echo "== go test -race"
	go test -race -count=1 -timeout 20m ./...

# Go native fuzzing of the HTTP surface: every Fuzz target in ./server, for
# FUZZTIME each (make fuzz runs them longer).
fuzz-short:
	@echo "== fuzz ($(FUZZTIME) per target)"
	@for f in $$(go test -list '^Fuzz' ./server | grep '^Fuzz'); do \
		echo "-- $$f"; go test ./server -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s; done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

# What the test stages need beyond Go and Node: Chromium for the /docs
# browser stage, installed from Debian when root (.ci/chromium says why).
tools:
	@.ci/chromium

# Contract checks with tools nobody on this team wrote: Spectral, Redocly,
# Prism, a generated TypeScript SDK and the /docs page in Chromium.
contract: build tools
	@echo "== contract checks"
	contract/run.sh ./$(BIN)

# Load benchmark: 1M groups by default; see docs/performance.md.
bench: build
	go run ./cmd/groupsbench -groupsd ./$(BIN) $(BENCHFLAGS)

bench-quick: build
	@echo "== benchmark smoke run (-quick; asserts it runs, never a speed)"
	go run ./cmd/groupsbench -groupsd ./$(BIN) -quick

test: tools check-generated vet lint api-gate test-go fuzz-short contract bench-quick
	@echo "== all tests passed"

clean:
	rm -rf bin
