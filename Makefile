# TaskFlow developer commands. `make run` and `make test` are the two
# commands of the README; the rest are conveniences.

LOCAL_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: run run-postgres test test-faults lint build migrate-status fuzz

## run: start the API on :8000; with no DATABASE_URL, on the embedded SQLite in ./data
run:
	go run ./cmd/taskflow

## run-postgres: the same against the local Postgres (DATABASE_URL overrides)
run-postgres:
	DATABASE_URL="$${DATABASE_URL:-$(LOCAL_DATABASE_URL)}" go run ./cmd/taskflow

## test: every test, against SQLite, the local Postgres and Redis (and the
## throwaway servers some tests start; scripts/test-tools installs the
## Debian packages they need when they are missing)
test:
	@bash scripts/test-tools
	go test -count=1 ./...

## test-faults: only the fault tests (throwaway Postgres and Redis, the real binary);
## make test runs them too
test-faults:
	go test -count=1 -run '^(TestFaults_|TestStartup_)' ./cmd/taskflow

## lint: formatting, vet, golangci-lint (pinned, fetched through the module
## proxy by go run; .golangci.yml holds the layer rules) and the compose
## file when docker-compose is installed
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
ACTIONLINT ?= go run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	go vet ./...
	$(GOLANGCI_LINT) run ./...
	$(ACTIONLINT) .github/workflows/ci.yml
	@if command -v docker-compose >/dev/null; then docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml ok"; fi

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/taskflow ./cmd/taskflow

## migrate-status: the migrations of the database `make run` uses
migrate-status:
	go run ./cmd/taskflow migrate status

## fuzz: run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m)
FUZZTIME ?= 30s
FUZZ_TARGETS = adapters/http:FuzzDecodeJSON adapters/http:FuzzListQuery adapters/http:FuzzIfNoneMatch adapters/auth:FuzzJWT_Verify \
	application:FuzzDecodeCursor application:FuzzListQuery_filter application:FuzzListQuery_search \
	adapters/sqlite:FuzzTextSearch
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in ./$$pkg for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; done

## bench: load benchmark of the real binary on loopback against the local
## Postgres and Redis, with ceilings measured in the same run (8 to 12
## minutes); BENCH_FLAGS=-quick for a two-minute smoke run
.PHONY: bench
bench:
	go run ./cmd/taskflow-bench $(BENCH_FLAGS)

## dashboard-png: render deploy/grafana/taskflow.json's panels from a 40 s
## mixed load of the real service (SQLite, memory cache) into
## docs/dashboard.png; DASHBOARD_FLAGS passes options (-duration,
## -database-url, -cache redis)
.PHONY: dashboard-png
dashboard-png:
	go run ./cmd/taskflow-dashboard -out docs/dashboard.png $(DASHBOARD_FLAGS)
