# siospec/rust:bookworm — Rust from Debian bookworm's own packages (rustc-web / cargo-web, the
# toolchain Debian keeps current for its browsers through bookworm-security; socketioxide needs 1.94+), plus what the Rust drivers build
# against (OpenSSL headers, pkg-config), on the debootstrapped siospec/debian:bookworm: stands in
# for rust:1-bookworm where no image registry is reachable. Crates come from crates.io during
# the family build. Built by `siospec containers bootstrap`.
ARG DEBIAN=siospec/debian:bookworm
FROM ${DEBIAN}
LABEL siospec.bootstrap="1"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rustc-web cargo-web libssl-dev pkg-config ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && rustc --version && cargo --version
