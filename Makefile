# c1m: what does it take for one Linux server to hold a million connections?
GO      ?= go
SCALE   ?= full
RESULTS ?= results
REPORT  ?= REPORT.md
BIN     := bin
GOFLAGS_BUILD := -trimpath

.PHONY: all build test vet fuzz clean report

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

# Experiments: make exp-N [SCALE=quick]. Each writes $(RESULTS)/exp-N/ and redraws the report.
exp-%: build
	$(GO) run ./experiments/exp$* -scale $(SCALE) -results $(RESULTS)
	$(MAKE) --no-print-directory report

# Regenerate the figures and REPORT.md from $(RESULTS) (never edit REPORT.md by hand).
report:
	$(GO) run ./cmd/c1m-report -results $(RESULTS) -out $(REPORT)

# Short fuzzing of every framing and parser; the seeds live in */testdata/fuzz.
FUZZTIME ?= 15s
FUZZ_TARGETS := core:FuzzFrameDecoder procfs:FuzzSlabinfo procfs:FuzzStat procfs:FuzzMeminfo procfs:FuzzPortList \
	client:FuzzParseSources client:FuzzCountReserved
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn"; $(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); done

clean:
	rm -rf $(BIN)
