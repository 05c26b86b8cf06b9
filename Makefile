# sentitune — `make setup demo` to install and run the demo, `make test` to run the tests.
SHELL := /bin/bash
GO ?= go
BUILD := build
SHIM := $(BUILD)/libsentitorch.so
BIN := $(BUILD)/sentitune
export SENTITUNE_TORCH_LIB := $(CURDIR)/$(SHIM)

APT_PACKAGES := build-essential pkg-config libtorch-dev libopenblas0-openmp libgloo-dev \
	python3-torch python3-numpy python3-sklearn chromium fonts-noto-cjk curl

.PHONY: setup shim build test vet bench loadtest demo clean

# Idempotent: installs only what is missing.
setup:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$$(command -v sudo >/dev/null && [ $$(id -u) -ne 0 ] && echo sudo) apt-get update -qq && \
		$$(command -v sudo >/dev/null && [ $$(id -u) -ne 0 ] && echo sudo) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "setup: all packages present"; fi
	@# libtorch-dev drags in openblas-pthread, which fights libtorch's OpenMP threads (up to 100x slower):
	@# point the BLAS/LAPACK alternatives at the OpenMP build.
	@for a in libblas.so.3 liblapack.so.3 libopenblas.so.0; do \
		t=/usr/lib/$$(gcc -print-multiarch)/openblas-openmp/$$a; \
		[ -e $$t ] && $$(command -v sudo >/dev/null && [ $$(id -u) -ne 0 ] && echo sudo) update-alternatives --set $$a-$$(gcc -print-multiarch) $$t >/dev/null || true; \
	done; echo "BLAS: $$(readlink -f /usr/lib/$$(gcc -print-multiarch)/libblas.so.3)"

$(SHIM): $(wildcard internal/torch/shim/*.cpp internal/torch/shim/*.h) scripts/build-shim.sh
	scripts/build-shim.sh $(BUILD)

shim: $(SHIM)

build: $(SHIM)
	$(GO) build -o $(BIN) ./cmd/sentitune

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

test: build vet
	$(GO) test -count=1 -timeout 15m ./...

bench: build
	$(GO) build -o $(BUILD)/sentitune-bench ./bench
	$(BUILD)/sentitune-bench -out bench/results

# serve under load on the tiny model, loopback, ~3–4 minutes: bench/results/serve-load-<date>.json/.md
loadtest: build
	$(GO) build -o $(BUILD)/sentitune-bench ./bench
	$(BUILD)/sentitune-bench -loadtest -out bench/results

# The built-in demo: Amazon review sentences → random-weight Qwen2-architecture model → LoRA → report.
demo: build
	$(BIN) run --out sentitune-demo

clean:
	rm -rf $(BUILD)
