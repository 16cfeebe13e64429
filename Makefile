# c1m: what does it take for one Linux server to hold a million connections?
GO      ?= go
SCALE   ?= full
# A quick run (SCALE=quick) writes to scratch/ (ignored by git): it never
# touches the committed results or REPORT.md unless told to (RESULTS=results).
ifeq ($(SCALE),quick)
RESULTS ?= scratch/results
REPORT  ?= scratch/REPORT.md
else
RESULTS ?= results
REPORT  ?= REPORT.md
endif
BIN     := bin
GOFLAGS_BUILD := -trimpath
PEERS   := netgo gnet nbio

.PHONY: all build test vet fuzz clean report rederive limits tune untune chaos soak reproduce $(BIN)/c1m-limits

all: build

build:
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-server ./cmd/c1m-server
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-client ./cmd/c1m-client
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-holder ./cmd/c1m-holder
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-limits ./cmd/c1m-limits
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-statswatch ./cmd/c1m-statswatch
	@# experiment 9's peers: echo servers on other Go libraries (bin/c1m-peer-NAME)
	@set -e; for p in $(PEERS); do $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/c1m-peer-$$p ./experiments/exp9/$$p; done

vet:
	$(GO) vet ./...

# OS limits on concurrent connections: the table, then lifting the sysctls
# that bind (root; old values saved in .c1m-tune.json) and putting them back.
# Phony so go's own cache decides whether it needs rebuilding.
LIMITS_FLAGS ?=
$(BIN)/c1m-limits:
	$(GO) build $(GOFLAGS_BUILD) -o $@ ./cmd/c1m-limits
limits: $(BIN)/c1m-limits
	$(BIN)/c1m-limits -save $(RESULTS)/limits $(LIMITS_FLAGS)
tune: $(BIN)/c1m-limits
	$(BIN)/c1m-limits -tune $(LIMITS_FLAGS)
untune: $(BIN)/c1m-limits
	$(BIN)/c1m-limits -untune

# The test command CI runs: vet, then every test (integration tests start real servers on loopback).
test: vet build
	$(GO) test -count=1 -timeout 10m ./...

# Experiments: make exp-N [SCALE=quick]. Each writes $(RESULTS)/exp-N/ and redraws the report
# ($(RESULTS)/.staging/exp-N while it runs: the results are replaced only when the run completes).
exp-%: build
	$(GO) run ./experiments/exp$* -scale $(SCALE) -results $(RESULTS)
	$(MAKE) --no-print-directory report

# The whole notebook on this machine: limits, every experiment, chaos, storm, vanish-scale and
# the soaks, in sequence with an overall ETA; steps whose committed results are already reference
# runs of this code on this processor are skipped (REPRODUCE_FLAGS=-all redoes them; -list shows
# the plan). It commits nothing: make report, read git status, commit.
REPRODUCE_FLAGS ?=
reproduce: build
	$(GO) run ./cmd/c1m-reproduce -results $(RESULTS) -bin $(BIN) $(REPRODUCE_FLAGS)

# Recompute every committed summary.csv from its run's samples and client
# results with the current derivation (runs nothing), then the report.
rederive:
	@for d in $(RESULTS)/exp-*/; do n=$${d%/}; n=$${n##*/exp-}; \
		$(GO) run ./experiments/exp$$n -rederive -results $(RESULTS) || exit 1; done
	$(MAKE) --no-print-directory report

# Regenerate the figures and REPORT.md from $(RESULTS) (never edit REPORT.md by hand).
report:
	$(GO) run ./cmd/c1m-report -results $(RESULTS) -out $(REPORT)

# Hostile clients against the server, then a reconnect storm and graceful stop, each on each engine (make chaos
# [SCALE=quick]; the storm alone, keeping the scenarios' results: CHAOS_FLAGS='-only storm'), and a soak with churn on each
# engine in turn (make soak [SOAK_FLAGS='-duration 2h']): they write $(RESULTS)/chaos, or $(RESULTS)/soak (epoll) and
# $(RESULTS)/soak-uring, redraw the report and fail, naming what failed, when a check does not hold.
# The soak runs both engines even when the first fails; an interrupt (Ctrl-C) skips the second.
CHAOS_FLAGS ?=
SOAK_FLAGS  ?=
chaos: build
	@status=0; $(GO) run ./cmd/c1m-chaos -results $(RESULTS)/chaos $(if $(filter quick,$(SCALE)),-quick) $(CHAOS_FLAGS) || status=$$?; \
		$(MAKE) --no-print-directory report && exit $$status
soak: build
	@status=0; stop=; trap 'stop=1' INT TERM; \
		$(GO) run ./cmd/c1m-soak -engine epoll -results $(RESULTS)/soak $(SOAK_FLAGS) || status=$$?; \
		[ -n "$$stop" ] || $(GO) run ./cmd/c1m-soak -engine uring -results $(RESULTS)/soak-uring $(SOAK_FLAGS) || status=$$?; \
		$(MAKE) --no-print-directory report && exit $$status

# Short fuzzing of every framing and parser; the seeds live in */testdata/fuzz.
FUZZTIME ?= 15s
FUZZ_TARGETS := core/epoll:FuzzFrameDecoder procfs:FuzzSlabinfo procfs:FuzzStat procfs:FuzzMeminfo procfs:FuzzPortList \
	client:FuzzParseSources client:FuzzCountReserved \
	core/epoll:FuzzSnapshotLine client:FuzzChildLine client:FuzzParsePortRange procfs:FuzzSockstat procfs:FuzzProcMem procfs:FuzzLimits \
	procfs:FuzzCounters procfs:FuzzHostCPU
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn"; $(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); done

clean:
	rm -rf $(BIN)
