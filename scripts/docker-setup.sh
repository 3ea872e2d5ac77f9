#!/usr/bin/env bash
# Make a Docker Engine answer on this machine, idempotently:
#   1. install Debian's docker.io (Engine) and docker-compose (Compose v1) with apt-get if missing;
#   2. start dockerd in the background if no daemon answers (`/etc/init.d/docker start` fails on
#      these machines: its ulimit is above the machine's), logging to $DOCKERD_LOG;
#   3. wait until `docker info` answers.
# Exits non-zero with a message saying what is missing when any step fails.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/warmup-dockerd.log}
WAIT_S=${DOCKER_SETUP_WAIT_S:-60}

fail() { echo "docker-setup: $*" >&2; exit 1; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || fail "${missing[*]} not installed and not root: run 'sudo apt-get install ${missing[*]}'"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed"
  apt-get install -y -qq "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]} failed"
fi
command -v docker >/dev/null 2>&1 || fail "no docker CLI in PATH after installing docker.io"

if docker info >/dev/null 2>&1; then
  exit 0
fi
[ "$(id -u)" = 0 ] || fail "no Docker daemon answers and only root can start one here; is dockerd running? (docker ps)"
if [ -S /var/run/docker.sock ] && ! pgrep -x dockerd >/dev/null 2>&1; then
  rm -f /var/run/docker.sock /var/run/docker.pid  # left by a daemon that died
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  # setsid: the daemon must outlive the shell (and the test session) that started it.
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
fi
deadline=$((SECONDS + WAIT_S))
until docker info >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    fail "dockerd did not answer within ${WAIT_S}s; see $DOCKERD_LOG"
  fi
  sleep 0.2
done
