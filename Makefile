# pxe-edge — `make` builds bin/pxe-edge for this machine; `GOARCH=arm64 make` a static
# linux/arm64 binary. See README.md for the two commands that matter: `make demo`, `make test`.

# A Go new enough for go.mod: on PATH, /usr/local/go, or fetched (scripts/ensure-go.sh).
GO       ?= $(shell scripts/ensure-go.sh)
ifeq ($(strip $(GO)),)
$(error no usable Go toolchain: see the messages of scripts/ensure-go.sh above)
endif
HOSTARCH := $(shell $(GO) env GOHOSTARCH)
GOARCH   ?= $(HOSTARCH)
# An empty GOARCH (environment or `make GOARCH=`) means the host too; `override` because a
# command-line variable would otherwise win over this assignment.
ifeq ($(strip $(GOARCH)),)
override GOARCH := $(HOSTARCH)
endif
GOARM    ?=
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -buildid= -X main.version=$(VERSION)
# nethttpomithttp2: pxe-edge serves HTTP/1.1 only; leaving HTTP/2 out saves ~320 KB.
GOTAGS   := nethttpomithttp2
GOBUILD  := CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) GOARM=$(GOARM) $(GO) build -trimpath -buildvcs=false -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)'

ifeq ($(GOARCH),$(HOSTARCH))
BIN := bin/pxe-edge
else
BIN := bin/pxe-edge-linux-$(GOARCH)$(if $(GOARM),v$(GOARM))
endif

# Test knobs: TESTFLAGS for extra `go test` flags, PKG to narrow the packages.
PKG       ?= ./...
TESTFLAGS ?=

.PHONY: all build test test-unit deps-test bench reliability lint netboot demo cross deb clean

all: build

build:
	$(GOBUILD) -o $(BIN) ./cmd/pxe-edge
	@echo "built $(BIN) ($(VERSION), linux/$(GOARCH)$(if $(GOARM), GOARM=$(GOARM)))"

## test: gofmt, vet and staticcheck (lint), unit tests, fuzz seed corpora and namespace integration tests (root; installs the
## Debian packages it needs first, and fetches Debian's arm64 GRUB netboot image for the
## arm64 UEFI firmware tests). Outside CI, tests that need root skip with the reason.
test: deps-test lint
	@scripts/sweep-netns.sh
	GRUB_ARM64_DEB="$${GRUB_ARM64_DEB:-$$(scripts/fetch-grub-arm64.sh || true)}" \
	IPXE_ARM64_EFI="$${IPXE_ARM64_EFI:-$$(board/ipxe-arm64/fetch.sh || true)}" \
		$(GO) test -count=1 -timeout 28m $(TESTFLAGS) $(PKG)
	@scripts/sweep-netns.sh

## test-unit: only what needs neither root nor Debian packages.
test-unit:
	$(GO) test -count=1 -short $(TESTFLAGS) $(PKG)

deps-test:
	@scripts/install-deps.sh test

## bench: Go micro-benchmarks, then every side-by-side script in bench/.
bench:
	@scripts/install-deps.sh bench
	$(GO) test -run '^$$' -bench . -benchmem $(PKG)
	@for s in bench/*.sh; do case $$s in bench/reliability*) continue;; esac; echo "== $$s"; bash "$$s" || exit 1; done

## reliability: the long fault and hostile-input runs of docs/RELIABILITY.md (hours with the
## default FUZZTIME=10m; FUZZTIME=30s PARTS="fuzz kill" for a shorter pass).
reliability:
	@scripts/install-deps.sh test
	@scripts/install-deps.sh bench
	bash bench/reliability.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## netboot: copy the iPXE / PXELINUX binaries from Debian packages into netboot/.
netboot:
	@scripts/netboot.sh

## demo: build, boot a QEMU guest from pxe-edge inside a namespace lab, tear down. ARCH=arm64
## for an arm64 UEFI guest.
demo:
	@scripts/demo.sh $(ARCH)

## cross: every Pi target plus amd64 into dist/ with SHA256SUMS.
cross:
	@scripts/cross.sh $(VERSION)

deb:
	@board/deb/build.sh $(VERSION)

clean:
	rm -rf bin dist build
