# siospec/python:bookworm — Python 3.11 with venv and pip from Debian bookworm's packages, on the
# debootstrapped siospec/debian:bookworm: stands in for python:3.12-slim (python-socketio 5.x
# line) where no image registry is reachable. Debian bookworm has no Python 3.10, which
# python-socketio 4.6.1 needs: see containers/python/Dockerfile. Built by `siospec containers bootstrap`.
ARG DEBIAN=siospec/debian:bookworm
FROM ${DEBIAN}
LABEL siospec.bootstrap="1"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && python3 --version
