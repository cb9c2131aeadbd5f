# wharf: build, run and test.
#
# `make test` is the project's one test command (CI runs it through .ci/run):
# go vet, then every package's tests, the end-to-end suite and the OCI
# conformance suite included.
#
# Tests that need outside services (PostgreSQL, an S3 server) get them from
# TEST_WRAPPER: a script that starts the services, exports where they listen
# (environment variables the tests read), runs its arguments as a command and
# stops the services again. It is used when the file exists, e.g.
#   scripts/test-services.sh go test ./...
# With no such script the tests run bare, and tests that need a service they
# do not find skip themselves.

GO           ?= go
BIN          ?= bin/wharf
CONFIG       ?=
TEST_TIMEOUT ?= 45m
TEST_FLAGS   ?=
PKGS         ?= ./...
TEST_WRAPPER ?= $(wildcard scripts/test-services.sh)

.PHONY: all build run test vet unit conformance bench bench-scale bench-stores gobench clean image image-rootfs

all: build

## build: compile the wharf binary into bin/
build:
	$(GO) build -o $(BIN) ./cmd/wharf

## image: build the wharf:latest container image (IMAGE=name:tag) with the
## local Docker daemon (DOCKER_HOST honoured), pulling nothing: FROM scratch
## plus the tree image-rootfs prepares
IMAGE     ?= wharf:latest
DOCKER    ?= docker
IMAGE_DIR ?= bin/image
CA_CERTS  ?= /etc/ssl/certs/ca-certificates.crt
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
image: image-rootfs
	$(DOCKER) build -t $(IMAGE) $(IMAGE_DIR)

## image-rootfs: the image's files in IMAGE_DIR/rootfs: a static wharf,
## /bin/registry -> wharf (registry:2's command name), CA certificates for
## TLS to upstreams and token servers, the default config, /tmp
image-rootfs:
	@test -s $(CA_CERTS) || { echo "image: $(CA_CERTS) missing (Debian: apt-get install ca-certificates)" >&2; exit 1; }
	rm -rf $(IMAGE_DIR)
	mkdir -p $(IMAGE_DIR)/rootfs/bin $(IMAGE_DIR)/rootfs/etc/ssl/certs $(IMAGE_DIR)/rootfs/etc/docker/registry \
		$(IMAGE_DIR)/rootfs/var/lib/registry $(IMAGE_DIR)/rootfs/tmp
	chmod 1777 $(IMAGE_DIR)/rootfs/tmp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(IMAGE_DIR)/rootfs/bin/wharf ./cmd/wharf
	ln -s wharf $(IMAGE_DIR)/rootfs/bin/registry
	cp $(CA_CERTS) $(IMAGE_DIR)/rootfs/etc/ssl/certs/ca-certificates.crt
	cp deploy/image/config.yml $(IMAGE_DIR)/rootfs/etc/docker/registry/config.yml
	cp deploy/image/Dockerfile $(IMAGE_DIR)/Dockerfile

## run: build, then serve (CONFIG=path/to/config.yml, else the defaults)
run: build
	./$(BIN) serve $(CONFIG)

## test: vet and run every test (the single test command)
test: vet
	$(TEST_WRAPPER) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS)
	$(MAKE) --no-print-directory fuzz

## fuzz: a short run of each native fuzzer, FUZZTIME each (the corpora in
## testdata/fuzz already run as plain tests); a crasher lands in testdata/fuzz
## (scripts/fuzz.sh, which also sees through a known flake of Go's fuzzer)
FUZZTIME    ?= 6s
FUZZ_TARGETS = internal/registry:FuzzValidateName internal/registry:FuzzValidateTag \
               internal/registry:FuzzParseDigest internal/registry:FuzzManifestIdentity \
               internal/registry:FuzzParseManifest internal/api:FuzzContentRange \
               internal/api:FuzzBlobRange internal/api:FuzzParseRoute internal/config:FuzzParse internal/config:FuzzParseEnv \
               internal/proxy:FuzzParseChallenge internal/proxy:FuzzSplitV2
.PHONY: fuzz
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(FUZZ_TARGETS)

## vet: go vet over every package
vet:
	$(GO) vet $(PKGS)

## unit: the quick tests only (-short: no conformance suite)
unit:
	$(TEST_WRAPPER) $(GO) test -count=1 -short -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS)

## conformance: the OCI distribution-spec conformance suite against wharf
## (OCI_RESULTS_OUT=dir keeps junit.xml and report.html)
conformance:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run TestOCIConformance -v ./test/e2e/

## bench: wharf side by side with distribution 2.8.2 (Debian's docker-registry)
## and v3.1.2 (go install, into .cache/bench), each installed when missing,
## interleaved; BENCH_FLAGS=-quick, -only push-small,mount, -peers distribution,
## -fair (drop the page cache between servers, root), -rounds 5, ...
bench:
	$(GO) build -o $(BIN) ./cmd/wharf
	$(GO) build -o bin/wharf-bench ./cmd/wharf-bench
	./bin/wharf-bench -wharf $(BIN) -out bin/bench.md $(BENCH_FLAGS)

## bench-scale: fill one wharf with up to 100,000 repositories and 1,000,000
## tags; catalog, tag-list and manifest latency at 1k, 10k, 100k repositories
bench-scale:
	$(GO) build -o $(BIN) ./cmd/wharf
	$(GO) build -o bin/wharf-bench ./cmd/wharf-bench
	./bin/wharf-bench -scale -wharf $(BIN) -out bin/bench-scale.md $(BENCH_FLAGS)

## bench-stores: push and pull throughput of the object stores (S3 on
## versitygw, Azure on Azurite, GCS on fake-gcs-server), through blob.Store
bench-stores:
	WHARF_SERVICES=s3,azurite,gcs $(TEST_WRAPPER) $(GO) test -run '^$$' -bench . -benchtime 5x \
		./internal/blob/ ./internal/blob/azure/ ./internal/blob/gcs/

## gobench: the Go benchmarks only, no tests
gobench:
	$(GO) test -run '^$$' -bench . $(PKGS)

## clean: remove built binaries and the conformance suite's build cache
clean:
	rm -rf bin .cache/conformance
