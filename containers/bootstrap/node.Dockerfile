# siospec/node:bookworm — Node.js and npm from Debian bookworm's own packages, on the
# debootstrapped siospec/debian:bookworm. Built by `siospec containers bootstrap`; stands in
# for node:20-bookworm-slim where no image registry is reachable (apt over deb.debian.org only).
ARG DEBIAN=siospec/debian:bookworm
FROM ${DEBIAN}
LABEL siospec.bootstrap="1"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
