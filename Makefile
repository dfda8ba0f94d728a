# epmd_docker: an Erlang -epmd_module that resolves container hostnames
# through the Docker Engine API, and its Go helper.
#
#   make          build priv/epmd-docker and ebin/ (for use with -pa)
#   make demo     set up, start a demo container node, open a remote shell
#   make test     set up (packages, dockerd, test image) and run every test
#   make test-matrix  the core scenarios on OTP 23, 25, 27 and 29 (MATRIX=...)
#   make bench    benchmarks, printed as a Markdown table
#   make check    gofmt, go vet, xref, dialyzer

SHELL   := /bin/bash
GO      ?= go
ERLC    ?= erlc
REBAR3  ?= rebar3
HELPER  := priv/epmd-docker
GO_SRC  := $(shell find go -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum
ERL_SRC := $(wildcard erlang/src/*.erl)
BEAMS   := $(patsubst erlang/src/%.erl,ebin/%.beam,$(ERL_SRC))

export EPMD_DOCKER_TEST_IMAGE ?= epmd-docker-test:latest

.PHONY: all setup test test-go test-eunit test-e2e test-matrix demo bench check clean

all: $(HELPER) $(BEAMS) ebin/epmd_docker.app

$(HELPER): $(GO_SRC)
	@mkdir -p priv
	@# Static, so that the same binary serves admin nodes in images with an
	@# older C library (the OTP matrix runs OTP 23 on Debian bullseye).
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./go/cmd/epmd-docker

ebin/%.beam: erlang/src/%.erl $(wildcard erlang/src/*.hrl)
	@mkdir -p ebin
	$(ERLC) -Werror +debug_info -o ebin $<

# The .app file lets code:priv_dir/1 and application:load/1 work with -pa.
ebin/epmd_docker.app: erlang/src/epmd_docker.app.src
	@mkdir -p ebin
	sed -e 's/{vsn, *"[^"]*"}/{vsn, "$(shell git describe --always --tags 2>/dev/null || echo dev)"}/' \
	    -e "s/{modules, *\[\]}/{modules, [$(shell ls erlang/src/*.erl | xargs -n1 basename | sed 's/\.erl$$//' | paste -sd, -)]}/" $< >$@

setup:
	test/setup.sh

test: setup
	$(MAKE) all
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

test-e2e: all
	$(GO) test -count=1 -timeout=40m -v ./test/e2e/

# OTP releases for test-matrix, each from the Debian suite that serves it
# (test/matrix/build-image.sh): bullseye 23, bookworm 25, trixie 27, sid 29.
MATRIX ?= 23 25 27 29

test-matrix: setup all
	test/matrix/build-image.sh $(MATRIX)
	EPMD_DOCKER_MATRIX="$(MATRIX)" $(GO) test -count=1 -timeout=40m -v -run '^TestMatrix$$' ./test/e2e/

demo: setup all
	test/demo.sh

# About two minutes: 50 container nodes, three host nodes, every
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
	rm -rf priv/epmd-docker ebin _build
