# siospec/maven:17 — siospec/java:17 plus the JDK and Maven from Debian bookworm's packages:
# the build stage of the Java drivers, standing in for maven:3.9-eclipse-temurin-17.
# Maven itself downloads the drivers' pinned artifacts from Maven Central during the build.
ARG JAVA=siospec/java:17
FROM ${JAVA}
LABEL siospec.bootstrap="1"
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && mvn -v
