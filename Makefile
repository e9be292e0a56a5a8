# tunnelkit: `make run` starts the demo, `make test` runs every test.
GO       ?= go
BIN      := bin/tunnelkit
DIST     := web/dist
GOROOT   := $(shell $(GO) env GOROOT)
LISTEN   ?= 127.0.0.1:8080
VERSION  := $(shell git describe --always --dirty 2>/dev/null)

.PHONY: all build wasm run test test-deps bench bench-quick fuzz vet soak clean

all: build

# The browser client: Go compiled to WebAssembly, stripped, precompressed,
# with wasm_exec.js from the same toolchain, embedded by web/. Each file is
# rebuilt only when what it is made from changed, so a second `make run`
# starts in about a second instead of recompressing for 10-30 s.
WASM_SRC := $(shell find tunnel relay wasm internal -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum
BIN_SRC  := $(shell find cmd tunnel relay web internal -type f ! -name '*_test.go' ! -path 'web/dist/*' 2>/dev/null) go.mod go.sum

# net/http (the viewer and the share) without its HTTP/2 half: the exits
# are reached over HTTP/1.1, and it is 1.2 MB less to download and compile.
WASM_TAGS := nethttpomithttp2

wasm: $(DIST)/tunnelkit.wasm $(DIST)/tunnelkit.wasm.gz $(DIST)/tunnelkit.wasm.br $(DIST)/wasm_exec.js

$(DIST)/tunnelkit.wasm: $(WASM_SRC)
	@mkdir -p $(DIST)
	@echo "building the browser client ($@)"
	GOOS=js GOARCH=wasm $(GO) build -tags $(WASM_TAGS) -trimpath -ldflags="-s -w" -o $@ ./wasm

$(DIST)/tunnelkit.wasm.gz: $(DIST)/tunnelkit.wasm
	@echo "compressing $< (gzip -9)"
	@gzip -9 -k -f $< && touch $@

# brotli -q 11 takes ~10 s on 8 MB and saves 12% over -q 9 on the wire.
$(DIST)/tunnelkit.wasm.br: $(DIST)/tunnelkit.wasm
	@if command -v brotli >/dev/null; then echo "compressing $< (brotli -q 11, ~10 s)"; brotli -q 11 -f -k $< && touch $@; \
	else echo "brotli not installed: serving gzip only"; rm -f $@; fi

$(DIST)/wasm_exec.js: $(GOROOT)/lib/wasm/wasm_exec.js
	@mkdir -p $(DIST)
	cp "$<" $@

build: $(BIN)

$(BIN): $(DIST)/tunnelkit.wasm $(DIST)/tunnelkit.wasm.gz $(DIST)/tunnelkit.wasm.br $(DIST)/wasm_exec.js $(BIN_SRC)
	@echo "building $(BIN)"
	@$(GO) build -trimpath -ldflags="-X main.version=$(VERSION)" -o $(BIN) ./cmd/tunnelkit

run: build
	$(BIN) demo --listen $(LISTEN)

test-deps:
	@bash .ci/deps

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet -tags $(WASM_TAGS) ./tunnel ./relay/client ./wasm

test: test-deps build vet
	$(GO) test -count=1 -timeout 45m ./...

bench: test-deps build
	$(GO) run ./bench

bench-quick: test-deps build
	BENCH_QUICK=1 $(GO) run ./bench

# A bounded soak: native and browser forwards under churn while faults are
# injected at random (SOAK=30m for longer). `make test` runs it for 1m.
SOAK ?= 10m
soak: test-deps
	SOAK=$(SOAK) $(GO) test -count=1 -timeout 0 -v -run '^TestSoak$$' ./soak

# Fuzz the parsers for a while each (FUZZTIME=2m for longer).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./tunnel -run '^$$' -fuzz FuzzParseSpec -fuzztime $(FUZZTIME)
	$(GO) test ./relay/resolve -run '^$$' -fuzz FuzzParseTarget -fuzztime $(FUZZTIME)
	$(GO) test ./relay -run '^$$' -fuzz FuzzControlMessage -fuzztime $(FUZZTIME)

clean:
	rm -rf bin $(DIST)/tunnelkit.wasm* $(DIST)/wasm_exec.js
