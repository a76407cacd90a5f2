# berth: build, test, benchmark. Run as root: tasks need namespaces and cgroups.
GO ?= go

.PHONY: testdeps all build probe test unit integration vet fmt demo clean bench bench-compare bench-cli fuzz soak soak-cli oci-conformance containerd bench-oci

all: build

# Static: no dynamic loader or libc to map, so the init stage starts faster
# and an idle supervisor keeps fewer pages resident.
# berth and berth-init, its lean init stage, side by side in bin/: berth
# finds berth-init beside its own executable.
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

probe:
	CGO_ENABLED=0 $(GO) build -o bin/probe ./test/probe

# The whole suite: unit tests and the root integration tests in test/.
# berth-oci's tests run busybox's static shell in their bundles.
test: vet testdeps
	$(GO) test -count=1 ./...

testdeps:
	@dpkg -s busybox-static >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq busybox-static)

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /test)

integration: testdeps
	$(GO) test -count=1 -v ./test/

# Every fuzz target for FUZZTIME each (3s; longer by hand:
# make fuzz FUZZTIME=10m).
FUZZTIME ?= 3s
fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)"

demo: build
	./bin/berth run --hostname demo -- /bin/sh -c 'echo "pid $$$$ on $$(hostname) as $$(id -u)"; grep -E "^Cap(Eff|Bnd)|NoNewPrivs" /proc/self/status; ls /; ls /dev'

# Benchmarks live in their own module (bench/), the only place that requires
# runc's libcontainer. berth's test binary is static like `make build`;
# libcontainer's needs cgo for its nsenter constructor.
bench:
	cd bench && CGO_ENABLED=0 $(GO) test -run XXX -bench . -benchtime 50x . && $(GO) test -run XXX -bench . -benchtime 50x ./lcbench

# berth against libcontainer, interleaved; the last line is one JSON object.
bench-compare:
	cd bench && $(GO) run ./cmd/compare -n 50

# The berth CLI against bubblewrap doing the same isolation, whole processes,
# paired and interleaved; the last line is one JSON object. Needs bwrap
# (apt-get install -y bubblewrap).
bench-cli:
	cd bench && $(GO) run ./cmd/clibench -n 200

# berth-oci against runc and crun (Debian's), create, start, wait and
# delete of one bundle, interleaved, and the three through ctr run (needs
# the containerd harness's build, make containerd). About 45 s.
bench-oci: build
	cd bench && $(GO) run ./cmd/ocibench -n 100

# Load and soak, not a test: 100 tasks kept alive for 10 minutes while
# tasks are stopped and relaunched, exec'd into and read; fds, goroutines,
# RSS, cgroups and mounts compared at the start and end. soak-cli does the
# same through the CLI (run -d, exec, stats, stop, delete).
soak:
	cd bench && $(GO) run ./cmd/soak -duration 10m -tasks 100

soak-cli:
	cd bench && $(GO) run ./cmd/soak -mode cli -duration 10m -tasks 100

clean:
	rm -rf bin

# runtime-tools' OCI validation programs against berth-oci, all of them:
# a row per program and what each left behind (test/oci/README.md). About
# a minute, plus 30 s to build the programs the first time. CI runs the
# ones berth-oci passes (test/oci/pass.list).
oci-conformance: build
	test/oci/run -runtime bin/berth-oci -v

# containerd v2.4.2 (its runc shim and ctr, built once into
# /tmp/berth-containerd-v2.4.2: about 2-3 min the first time) driving
# bin/berth-oci: run, run -d with ps/exec/pause/resume/metrics/update/kill,
# OOM, -t. About 3 s once built. OCI_RUNTIME=/usr/sbin/runc checks the harness.
OCI_RUNTIME ?= $(CURDIR)/bin/berth-oci
containerd: build
	dpkg -s busybox-static >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq busybox-static)
	cd test/containerd && BERTH_OCI_RUNTIME=$(OCI_RUNTIME) $(GO) test -count=1 -v -timeout 20m .
