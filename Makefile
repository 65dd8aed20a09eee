# veche — build and test entry points. `make test` is the one command that
# runs every test on a fresh Debian machine with Go, Node and npm installed
# (as root, or with sudo, for the Debian packages in DEBIAN_PACKAGES).

.PHONY: test deps debian-deps build run vet bench release FORCE

## test: install what the tests need, then run every test
test: deps
	go vet ./...
	go test -race -count=1 -timeout 20m ./...

## deps: Go modules, the npm packages the interop tests drive, and the
## Debian packages for the arm64 build, its smoke test under qemu and the
## systemd unit's check
deps: debian-deps
	go mod download
	npm ci --prefix interop/testdata --no-audit --no-fund

# What the tests need from Debian: a cross compiler and C library for
# linux/arm64 (cgo: automerge-go links a static Automerge core per
# architecture), qemu to run that binary here, systemd-analyze to verify
# deploy/veche.service, and what the README's "Run a relay" commands use
# (openssl, curl; ip and unshare for the test's namespaces). Installed only
# when missing.
DEBIAN_PACKAGES = gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static systemd \
	openssl curl iproute2 util-linux
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

debian-deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  = -X main.version=$(VERSION) -X main.commit=$(COMMIT)

## build: the relay binary in ./bin/veche
build:
	go build -ldflags '$(LDFLAGS)' -o bin/veche ./cmd/veche

## release: static veche binaries for linux/amd64 and linux/arm64
## (Raspberry Pi 4/5, 64-bit OS) in $(DIST), with their SHA256SUMS
DIST ?= dist
# Static: glibc linked in, with Go's own DNS and user lookups, so one file
# runs on any Linux of its architecture, whatever its C library.
RELEASE_FLAGS = -trimpath -tags netgo,osusergo \
	-ldflags '-s -w $(LDFLAGS) -linkmode external -extldflags "-static"'

release: $(DIST)/veche-linux-amd64 $(DIST)/veche-linux-arm64
	cd $(DIST) && sha256sum veche-linux-amd64 veche-linux-arm64 > SHA256SUMS

$(DIST)/veche-linux-amd64: FORCE
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 CC=x86_64-linux-gnu-gcc go build $(RELEASE_FLAGS) -o $@ ./cmd/veche

$(DIST)/veche-linux-arm64: FORCE
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc go build $(RELEASE_FLAGS) -o $@ ./cmd/veche

## run: the relay on :8080 with its data in ./veche-data
run:
	go run ./cmd/veche serve

## bench: Go benchmarks of the relay engine
bench:
	go test -run '^$$' -bench . -benchtime 20x ./server/
