# Build, test and demo the plugin. Everything runs offline except the Go
# module downloads, which use the Go module proxy.

BINARY   := bin/gcp-federated-credential-provider
DIAGNOSE := bin/gcp-federated-credential-provider-diagnose
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GO       ?= go

# Modules that run the conformance suite against the kubelet's own credential
# provider code, one Kubernetes release each.
KUBELET_MODULES := test/kubelet/k8s-1.37 test/kubelet/k8s-1.34

.PHONY: all build build-diagnose demo test test-short test-kubelet test-controlplane bench fuzz vet fmt-check clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) ./cmd/gcp-federated-credential-provider

# The diagnose command, also as a kubectl plugin: kubectl gcp-federated-diagnose.
build-diagnose:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIAGNOSE) ./cmd/gcp-federated-credential-provider-diagnose
	cp $(DIAGNOSE) bin/kubectl-gcp_federated_diagnose

# Runs the real binary against fake Google endpoints on 127.0.0.1.
demo: build
	$(GO) run ./test/demo -plugin $(BINARY)

# The full suite: formatting, vet, unit tests, the tests that run the built
# binary against the fake Google endpoints, the kubelet conformance suite and
# the suite against a real kube-apiserver and etcd.
test: test-short
	$(MAKE) test-kubelet
	$(MAKE) test-controlplane

# Formatting, vet and the main module's tests, without the Kubernetes
# suites, for a quick local loop.
test-short: fmt-check vet
	$(GO) test -count=1 ./...

# The conformance suite alone. The first run downloads and compiles the
# Kubernetes modules, a few minutes per release.
test-kubelet:
	cd test/kubelet/conformance && $(GO) vet ./...
	for module in $(KUBELET_MODULES); do \
		(cd $$module && $(GO) vet ./... && $(GO) test -count=1 ./...) || exit 1; \
	done

# Whole-process timings of the plugin beside minimal Go floors, then the
# in-process benchmarks. Results and budgets are kept in BENCHMARKS.md.
bench: build
	$(GO) run ./test/bench -plugin $(BINARY)
	$(GO) test -run '^$$' -bench . -benchmem ./test/bench/

# Builds etcd, kube-apiserver and the kubelet (the longest part of a first
# run; building kube-apiserver peaked at 2.9 GB of memory here, and the Go
# build cache keeps later runs short), starts them on 127.0.0.1 and runs the
# tests against them. The kubelet needs root.
test-controlplane:
	cd test/controlplane/etcd && $(GO) vet ./...
	cd test/controlplane && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin

# Runs each fuzz target for FUZZTIME. The seed corpora in testdata/fuzz also
# run as ordinary tests in make test.
FUZZTIME ?= 60s
FUZZ_TARGETS := ./pkg/protocol:FuzzReadRequest ./pkg/registry:FuzzParseImage ./pkg/registry:FuzzNewMatcher \
	./pkg/identity:FuzzParseProvider ./pkg/identity:FuzzValidateServiceAccount

fuzz:
	for target in $(FUZZ_TARGETS); do \
		$(GO) test -run '^$$' -fuzz "^$${target#*:}$$" -fuzztime $(FUZZTIME) "$${target%%:*}" || exit 1; \
	done
