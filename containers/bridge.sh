#!/bin/bash
# siospec-bridge: runs a driver command with its stdin and stdout on siospec's control socket.
#
# siospec (the container backend) listens on 127.0.0.1:$SIOSPEC_CONTROL_PORT and starts the
# container on the host network with this script as its command, followed by the driver
# command of the target (the same argv as the process backend). The script connects back,
# sends the one-time token as its first line, then execs the driver with the socket as fd 0
# and fd 1: the driver speaks its JSON lines exactly as it does over pipes. stderr stays the
# container's log. When siospec closes the socket (or dies), the driver reads EOF on stdin and
# exits, so the container stops (and, started with AutoRemove, is removed by the engine).
#
# Needs bash (for /dev/tcp), which every supported base image has.
set -eu
: "${SIOSPEC_CONTROL_PORT:?SIOSPEC_CONTROL_PORT is not set}"
: "${SIOSPEC_CONTROL_TOKEN:?SIOSPEC_CONTROL_TOKEN is not set}"
host=${SIOSPEC_CONTROL_HOST:-127.0.0.1}
if [ "$#" -eq 0 ]; then
  echo "siospec-bridge: no driver command given" >&2
  exit 2
fi
if ! exec 3<>"/dev/tcp/$host/$SIOSPEC_CONTROL_PORT"; then
  echo "siospec-bridge: cannot connect to siospec at $host:$SIOSPEC_CONTROL_PORT (is the container on the host network?)" >&2
  exit 2
fi
printf '%s\n' "$SIOSPEC_CONTROL_TOKEN" >&3
unset SIOSPEC_CONTROL_TOKEN
exec "$@" <&3 >&3 3>&-
