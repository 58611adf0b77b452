# The two commands of the README: "make demo" sets up and records a short
# trace; "make test" sets up and runs the whole test suite.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: setup build demo test bench cover generate

setup:
	@./scripts/setup.sh

build:
	$(GO) build -o bin/bpftrail ./cmd/bpftrail

# A five-second recording of every process's file opens, program starts and
# context switches while a small workload runs, then its summary, some of its
# events as bpftrail and babeltrace2 print them.
demo: setup build
	rm -rf demo-trace
	bin/bpftrail record -e syscall:openat -e sched:sched_process_exec -e sched:sched_switch -a -o demo-trace -- \
		sh -c 'for i in 1 2 3 4 5; do ls /etc >/dev/null; cat /etc/hostname >/dev/null; sleep 1; done'
	bin/bpftrail print demo-trace | grep -m 8 -e sys_enter_openat -e sched_process_exec
	babeltrace2 --clock-gmt demo-trace | grep -m 3 sys_exit_openat

STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2

test: setup
	test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	GOOS=windows $(GO) vet ./ctf
	GOOS=darwin $(GO) vet ./ctf
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -count=1 ./...

bench: setup build
	$(GO) test -run XXX -bench . -benchtime 1x ./ctf/
	$(GO) run ./cmd/bpftrail-bench

# Coverage per package of the whole suite: the unit tests' own counters and
# those of the bpftrail binaries the end-to-end tests build and run
# (bpftest.Build instruments them when BPFTRAIL_COVERDIR is set).
COVERDIR ?= $(CURDIR)/.cover
cover: setup
	rm -rf $(COVERDIR) && mkdir -p $(COVERDIR)/unit $(COVERDIR)/bin
	BPFTRAIL_COVERDIR=$(COVERDIR)/bin $(GO) test -count=1 -cover -coverpkg=github.com/bpftrail/bpftrail/... ./... -args -test.gocoverdir=$(COVERDIR)/unit
	$(GO) tool covdata percent -i=$(COVERDIR)/unit,$(COVERDIR)/bin

# Rebuilds the BPF objects committed with the examples (needs clang and
# libbpf-dev; building and testing do not).
generate:
	$(GO) generate ./examples/...
