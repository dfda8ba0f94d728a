# epmd_docker: an Erlang -epmd_module that resolves container hostnames
# through the Docker Engine API, and its Go helper.
#
#   make          build priv/epmd-docker and ebin/ (for use with -pa)
#   make demo     set up, start a demo container node, open a remote shell
#   make test     set up (packages, dockerd, test image) and run every test
#   make test-matrix  the core scenarios on OTP 23, 25, 27 and 29 (MATRIX=...)
#   make test-k8s the Kubernetes tests, on a cluster built and started here
#   make bench    benchmarks, printed as a Markdown table (bench-k8s: with the Kubernetes rows)
#   make check    gofmt, go vet, xref, dialyzer
#   make dist     static helpers for Linux and macOS in priv/OS-ARCH/, and SHA256SUMS
#   make package  the hex package layout in _build/package/epmd_docker-VSN/ and its tarball

SHELL   := /bin/bash
GO      ?= go
ERLC    ?= erlc
REBAR3  ?= rebar3
HELPER  := priv/epmd-docker
GO_SRC  := $(shell find go -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum
# The .app.src is in erlang/src here and in src/ in the package make package
# writes, whose Makefile is this one.
APP_SRC := $(firstword $(wildcard erlang/src/epmd_docker.app.src src/epmd_docker.app.src))
# One version for the application and the helper: the .app.src's vsn,
# stamped into every helper build (what `epmd-docker version` and the reply
# to ping report), so that the port owner can compare the two.
VERSION := $(if $(APP_SRC),$(shell sed -n 's/.*{vsn, *"\([^"]*\)"}.*/\1/p' $(APP_SRC)),dev)
# Reproducible: no build ID and no VCS stamp (which would differ between a
# clean and a dirty tree), paths trimmed, no C. Without the symbol table and
# DWARF (-s -w; panics still print their stacks): 8 MB instead of 12, which
# keeps the package with four helpers under hex's 16 MiB limit.
GO_BUILD := CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) build -trimpath \
            -ldflags '-s -w -buildid= -X main.stampedVersion=$(VERSION)'

# make dist: one static helper per system epmd_docker_helper knows, named
# by Go's GOOS-GOARCH, and their checksums. DIST_DIR lets the
# reproducibility test build a second copy elsewhere.
DIST_DIR     ?= priv
DIST_SYSTEMS := linux-amd64 linux-arm64 darwin-amd64 darwin-arm64
DIST_BINS    := $(foreach s,$(DIST_SYSTEMS),$(DIST_DIR)/$(s)/epmd-docker)
SHA256       := $(shell command -v sha256sum 2>/dev/null || echo shasum -a 256)
PKG          := _build/package/epmd_docker-$(VERSION)
ERL_SRC := $(wildcard erlang/src/*.erl)
BEAMS   := $(patsubst erlang/src/%.erl,ebin/%.beam,$(ERL_SRC))

export EPMD_DOCKER_TEST_IMAGE ?= epmd-docker-test:latest

.PHONY: all setup test test-go test-eunit test-e2e test-matrix test-k8s bench-k8s demo bench check clean dist package

# Prebuilt helpers win over priv/epmd-docker on the Erlang side, so the
# ones that exist are rebuilt with it when the sources change.
all: $(HELPER) $(BEAMS) ebin/epmd_docker.app $(if $(wildcard priv/*-*/epmd-docker),dist)

$(HELPER): $(GO_SRC) $(APP_SRC) Makefile
	@mkdir -p priv
	@# Static, so that the same binary serves admin nodes in images with an
	@# older C library (the OTP matrix runs OTP 23 on Debian bullseye).
	$(GO_BUILD) -o $@ ./go/cmd/epmd-docker

dist: $(DIST_DIR)/SHA256SUMS

# GOAMD64 and GOARM64 at their defaults, whatever the environment says:
# the oldest CPUs of each architecture, and the same bytes everywhere.
$(DIST_DIR)/%/epmd-docker: $(GO_SRC) $(APP_SRC) Makefile
	@mkdir -p $(@D)
	GOOS=$(word 1,$(subst -, ,$*)) GOARCH=$(word 2,$(subst -, ,$*)) GOAMD64=v1 GOARM64=v8.0 \
	    $(GO_BUILD) -o $@ ./go/cmd/epmd-docker

$(DIST_DIR)/SHA256SUMS: $(DIST_BINS)
	cd $(DIST_DIR) && $(SHA256) $(patsubst $(DIST_DIR)/%,%,$(DIST_BINS)) >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS

# The files a hex package of the application holds, laid out as hex wants
# (src/ at the top, no build output), with the prebuilt helpers, and the Go
# sources and this Makefile so that a system without a prebuilt helper can
# still build one with Go. scripts/package.sh writes it.
package: dist
	sh scripts/package.sh $(PKG) $(VERSION)

ebin/%.beam: erlang/src/%.erl $(wildcard erlang/src/*.hrl)
	@mkdir -p ebin
	$(ERLC) -Werror +debug_info -o ebin $<

# The .app file lets code:priv_dir/1 and application:load/1 work with -pa.
# Its vsn is the .app.src's, the version stamped into the helper.
ebin/epmd_docker.app: erlang/src/epmd_docker.app.src Makefile
	@mkdir -p ebin
	sed -e "s/{modules, *\[\]}/{modules, [$(shell ls erlang/src/*.erl | xargs -n1 basename | sed 's/\.erl$$//' | paste -sd, -)]}/" $< >$@

setup:
	test/setup.sh

test: setup
	$(MAKE) all dist
	$(MAKE) test-go test-eunit test-e2e

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./go/...
	@# A short fuzzing run of the frame and term decoders; the seed corpus
	@# (including the known out-of-memory input) runs in every plain go test.
	@# A count, not a duration: Go 1.26's fuzz coordinator can report a bare
	@# "context deadline exceeded" when a duration ends on a loaded machine
	@# (golang/go#75804, fixed in Go 1.27).
	$(GO) test -run='^$$' -fuzz='^FuzzReadFrame$$' -fuzztime=200000x ./go/internal/wire
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeRequest$$' -fuzztime=200000x ./go/internal/wire

test-eunit: $(HELPER)
	$(REBAR3) eunit

test-e2e: all dist
	$(GO) test -count=1 -timeout=40m -v ./test/e2e/

# OTP releases for test-matrix, each from the Debian suite that serves it
# (test/matrix/build-image.sh): bullseye 23, bookworm 25, trixie 27, sid 29.
MATRIX ?= 23 25 27 29

test-matrix: setup all
	test/matrix/build-image.sh $(MATRIX)
	EPMD_DOCKER_MATRIX="$(MATRIX)" $(GO) test -count=1 -timeout=40m -v -run '^TestMatrix$$' ./test/e2e/

# A single-node Kubernetes built from the Go module proxy (about 6 minutes
# the first time on a machine, then reused from /var/cache/epmd-docker-k8s),
# started with its own containerd and bridge, and stopped afterwards.
test-k8s: setup all dist
	test/k8s/run.sh

# make bench with the Kubernetes rows, on the same cluster.
bench-k8s: setup all
	test/k8s/run.sh bench

demo: setup all
	test/demo.sh

# About six minutes: 50 container nodes, three host nodes, every
# measurement in blocks taken in turn with its baselines. Prints the table
# and writes it into BENCHMARKS.md (between its markers); see test/bench.
bench: setup all
	$(GO) run ./test/bench -out BENCHMARKS.md

check: all
	@out=$$(gofmt -l go test); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(REBAR3) xref
	$(REBAR3) dialyzer

clean:
	rm -rf priv/epmd-docker $(foreach s,$(DIST_SYSTEMS),priv/$(s)) priv/SHA256SUMS ebin _build
