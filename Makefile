# tunnelkit: `make run` starts the demo, `make test` runs every test.
GO       ?= go
BIN      := bin/tunnelkit
DIST     := web/dist
GOROOT   := $(shell $(GO) env GOROOT)
LISTEN   ?= 127.0.0.1:8080

.PHONY: all build wasm run test test-deps bench bench-quick fuzz vet clean

all: build

# The browser client: Go compiled to WebAssembly, stripped, precompressed,
# with wasm_exec.js from the same toolchain, embedded by web/.
wasm:
	@mkdir -p $(DIST)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $(DIST)/tunnelkit.wasm ./wasm
	cp "$(GOROOT)/lib/wasm/wasm_exec.js" $(DIST)/wasm_exec.js
	gzip -9 -k -f $(DIST)/tunnelkit.wasm
	@if command -v brotli >/dev/null; then brotli -q 11 -f -k $(DIST)/tunnelkit.wasm; else echo "brotli not installed: serving gzip only"; fi

build: wasm
	$(GO) build -trimpath -o $(BIN) ./cmd/tunnelkit

run: build
	$(BIN) demo --listen $(LISTEN)

test-deps:
	@bash .ci/deps

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./tunnel ./relay/client ./wasm

test: test-deps build vet
	$(GO) test -count=1 -timeout 25m ./...

bench: test-deps build
	$(GO) run ./bench

bench-quick: test-deps build
	BENCH_QUICK=1 $(GO) run ./bench

# Fuzz the parsers for a while each (FUZZTIME=2m for longer).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./tunnel -run '^$$' -fuzz FuzzParseSpec -fuzztime $(FUZZTIME)
	$(GO) test ./relay/resolve -run '^$$' -fuzz FuzzParseTarget -fuzztime $(FUZZTIME)
	$(GO) test ./relay -run '^$$' -fuzz FuzzControlMessage -fuzztime $(FUZZTIME)

clean:
	rm -rf bin $(DIST)/tunnelkit.wasm* $(DIST)/wasm_exec.js
