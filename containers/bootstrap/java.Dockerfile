# siospec/java:17 — OpenJDK 17 (headless JRE) from Debian bookworm's packages, on the
# debootstrapped siospec/debian:bookworm: the runtime of the Java drivers, standing in for
# eclipse-temurin:17 where no image registry is reachable. Built by `siospec containers bootstrap`.
ARG DEBIAN=siospec/debian:bookworm
FROM ${DEBIAN}
LABEL siospec.bootstrap="1"
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && java -version
