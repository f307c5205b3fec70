# Build, test and demo the plugin. Everything runs offline except the Go
# module downloads, which use the Go module proxy.

BINARY   := bin/gcp-federated-credential-provider
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GO       ?= go

.PHONY: all build demo test bench vet fmt-check clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) ./cmd/gcp-federated-credential-provider

# Runs the real binary against fake Google endpoints on 127.0.0.1.
demo: build
	$(GO) run ./test/demo -plugin $(BINARY)

# The full suite: formatting, vet, unit tests and the tests that run the
# built binary against the fake Google endpoints.
test: fmt-check vet
	$(GO) test -count=1 ./...

# Whole-process timings of the plugin beside minimal Go floors, then the
# in-process benchmarks. Results and budgets are kept in BENCHMARKS.md.
bench: build
	$(GO) run ./test/bench -plugin $(BINARY)
	$(GO) test -run '^$$' -bench . -benchmem ./test/bench/

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
