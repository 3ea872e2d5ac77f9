#!/usr/bin/env bash
# Build the images of docker-compose.auto-scale.yml from this checkout, with no image registry:
#   $APP_IMAGE (default warmup-autoscaler:latest): the auto-scaler, the Dockerfile's `auto-scaler`
#       target, and $WORKER_IMAGE (default warmup-autoscaler-worker:latest): the workers, its
#       `worker` target; both on $BASE_IMAGE (default warmup-python-base:bookworm, made by
#       scripts/build-base-image.sh when missing). The Python packages come from a wheelhouse
#       that the host's pip fills for the image's Python, so the build itself needs no network
#       (pip inside a container may not trust the TLS proxy the host goes through); Debian
#       packages come from Debian's mirror. The wheelhouse holds the dependencies only: the
#       package itself is built from src/ in the image, after them.
#   $POSTGRES_LOCAL_IMAGE (default warmup-postgres:15): PostgreSQL 15 from Debian's package on the
#       same base, taking the official postgres image's variables (POSTGRES_USER, POSTGRES_PASSWORD,
#       POSTGRES_DB, PGDATA), for machines that cannot pull postgres:15. SKIP_POSTGRES_IMAGE=1
#       skips it.
#   EXTRA_PIP_PACKAGES: more requirements installed into both images (e.g. your worker job).
#   CACHE_DIR (default /var/cache/warmup-autoscaler, else ~/.cache/warmup-autoscaler): where the
#       wheelhouse is kept between builds; REFRESH_WHEELHOUSE=1 downloads it again.
# Docker's layer cache makes a rebuild with unchanged sources take seconds, and one after a change
# under src/ rebuilds only the package's own layer.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:-warmup-python-base:bookworm}
APP_IMAGE=${APP_IMAGE:-warmup-autoscaler:latest}
WORKER_IMAGE=${WORKER_IMAGE:-warmup-autoscaler-worker:latest}
POSTGRES_LOCAL_IMAGE=${POSTGRES_LOCAL_IMAGE:-warmup-postgres:15}
CACHE_DIR=${CACHE_DIR:-/var/cache/warmup-autoscaler}
PYTHON=${PYTHON:-python3}
EXTRA_PIP_PACKAGES=${EXTRA_PIP_PACKAGES:-}

fail() { echo "build-images: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || fail "no Docker daemon answers; run scripts/docker-setup.sh first"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  if [ "$BASE_IMAGE" = warmup-python-base:bookworm ]; then
    BASE_IMAGE="$BASE_IMAGE" scripts/build-base-image.sh
  else
    docker pull "$BASE_IMAGE" || fail "base image $BASE_IMAGE is missing and cannot be pulled"
  fi
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# --- the app image ----------------------------------------------------------------------------
# The wheels must suit the image's Python and C library, not the host's.
read -r py_version libc_version arch < <(docker run --rm --entrypoint python3 "$BASE_IMAGE" -c \
  'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.libc_ver()[1], platform.machine())')
[ -n "${arch:-}" ] || fail "cannot run python3 in $BASE_IMAGE"
platforms=()
glibc_minor=${libc_version#*.}
for ((minor = glibc_minor; minor >= 17; minor--)); do
  platforms+=(--platform "manylinux_2_${minor}_${arch}")
done
platforms+=(--platform "manylinux2014_${arch}" --platform "linux_${arch}")

mkdir -p "$ctx/scripts" "$ctx/wheelhouse"
cp -r pyproject.toml README.md src Dockerfile .dockerignore "$ctx/"
cp scripts/pyproject-requirements.py scripts/strip-extensions.sh "$ctx/scripts/"
find "$ctx/src" -name '__pycache__' -prune -exec rm -rf {} + -o -name '*.egg-info' -prune -exec rm -rf {} +
# Everything the Dockerfile installs: the build backend, the dependencies with every extra the
# auto-scaler image carries, and the extra packages. The wheelhouse is kept in $CACHE_DIR under a
# key of these requirements and the image's Python, so later builds reuse the very same wheels
# (the same dependency layers, no index queries) until pyproject.toml or the base changes;
# REFRESH_WHEELHOUSE=1 downloads them again (e.g. for a dependency's new release).
read -r -a extra <<<"$EXTRA_PIP_PACKAGES"
requirements=$("$PYTHON" scripts/pyproject-requirements.py pyproject.toml --build \
  && "$PYTHON" scripts/pyproject-requirements.py pyproject.toml kubernetes docker) \
  || fail "cannot read the requirements from pyproject.toml"
mapfile -t requirements <<<"$requirements"
key=$(printf '%s\n' "$py_version" "$libc_version" "$arch" "${requirements[@]}" "${extra[@]}" \
  | sha256sum | cut -c1-16)
mkdir -p "$CACHE_DIR" 2>/dev/null && [ -w "$CACHE_DIR" ] \
  || CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/warmup-autoscaler
wheels="$CACHE_DIR/wheelhouse-$key"
if [ ! -d "$wheels" ] || [ "${REFRESH_WHEELHOUSE:-0}" = 1 ]; then
  mkdir -p "$CACHE_DIR"
  partial=$(mktemp -d "$wheels.partial.XXXXXX")
  "$PYTHON" -m pip download -qq --only-binary=:all: --dest "$partial" \
    --python-version "$py_version" --implementation cp "${platforms[@]}" \
    "${requirements[@]}" "${extra[@]}" \
    || { rm -rf "$partial"; fail "pip download of the dependencies for Python $py_version ($arch) failed"; }
  rm -rf "$wheels"
  mv -T "$partial" "$wheels" 2>/dev/null || rm -rf "$partial"  # another build got there first
fi
cp "$wheels"/* "$ctx/wheelhouse/"

# Two stages that no final image descends from are tagged too, so that they stay as the layer
# cache of the next build, and the untagged leftovers of earlier builds (ours only, by label) can
# be pruned. The third, `requirements`, is pruned: it reruns in a second and yields the same
# files, so the layers after it stay cached.
repo=${APP_IMAGE%:*}
for target in auto-scaler-deps:"$repo:cache-deps" app:"$repo:cache-app" \
    worker:"$WORKER_IMAGE" auto-scaler:"$APP_IMAGE"; do
  tag=${target#*:}
  target=${target%%:*}
  docker build --target "$target" --tag "$tag" --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg EXTRA_PIP_PACKAGES="$EXTRA_PIP_PACKAGES" "$ctx" >"$ctx/build.log" 2>&1 \
    || { tail -n 40 "$ctx/build.log" >&2; fail "docker build of $tag failed"; }
done
echo "build-images: built $APP_IMAGE and $WORKER_IMAGE"
docker image prune --force --filter label=io.warmup-autoscaler.stage >/dev/null

# --- the local PostgreSQL image -----------------------------------------------------------------
if [ "${SKIP_POSTGRES_IMAGE:-0}" = 1 ]; then
  exit 0
fi
pg="$ctx/postgres"
mkdir "$pg"
cat >"$pg/Dockerfile" <<'DOCKERFILE'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /var/run/postgresql /var/lib/postgresql/data \
 && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=5s --retries=30 CMD pg_isready -q -h 127.0.0.1 -U "${POSTGRES_USER:-postgres}"
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
DOCKERFILE
cat >"$pg/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# A small stand-in for the official postgres image's entrypoint: the first start creates the
# cluster with POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, then the server runs as postgres.
set -eu
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
if [ "${1:-}" = postgres ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
      as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      as_postgres psql -q -v ON_ERROR_STOP=1 -U "$user" -d postgres \
        -c "CREATE DATABASE \"$db\" OWNER \"$user\""
      as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
fi
exec "$@"
ENTRYPOINT
chmod 755 "$pg/docker-entrypoint.sh"
docker build --tag "$POSTGRES_LOCAL_IMAGE" --build-arg BASE_IMAGE="$BASE_IMAGE" "$pg" \
  >"$ctx/postgres-build.log" 2>&1 \
  || { tail -n 40 "$ctx/postgres-build.log" >&2; fail "docker build of $POSTGRES_LOCAL_IMAGE failed"; }
echo "build-images: built $POSTGRES_LOCAL_IMAGE"
