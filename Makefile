# c1m: what does it take for one Linux server to hold a million connections?
GO      ?= go
SCALE   ?= full
BIN     := bin
GOFLAGS_BUILD := -trimpath

.PHONY: all build test vet fuzz clean report

# Experiments: make exp-N [SCALE=quick]. Each writes results/exp-N/ and redraws the report.
exp-%: build
	$(GO) run ./experiments/exp$* -scale $(SCALE)
	$(MAKE) --no-print-directory report

all: build

build:
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-server ./cmd/c1m-server
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-client ./cmd/c1m-client
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-holder ./cmd/c1m-holder

vet:
	$(GO) vet ./...

# The test command CI runs: vet, then every test (integration tests start real servers on loopback).
test: vet build
	$(GO) test -count=1 -timeout 10m ./...

# Short fuzzing of every framing and parser (seeds live in testdata/fuzz).
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./core -run '^$$' -fuzz FuzzFrameDecoder -fuzztime $(FUZZTIME)

clean:
	rm -rf $(BIN)
