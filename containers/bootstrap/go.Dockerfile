# siospec/go:bookworm — Go 1.23 from Debian bookworm-backports, on the debootstrapped
# siospec/debian:bookworm: stands in for golang:1.26-bookworm where no image registry is
# reachable. A module asking for a newer Go (go.mod's `go` line) makes it fetch that toolchain
# through the Go module proxy (GOTOOLCHAIN=auto), as any Go >= 1.21 does. Built by
# `siospec containers bootstrap`.
ARG DEBIAN=siospec/debian:bookworm
FROM ${DEBIAN}
LABEL siospec.bootstrap="1"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t bookworm-backports golang-1.23-go \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates git \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/go-1.23/bin:$PATH GOTOOLCHAIN=auto
RUN go version
