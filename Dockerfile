# warmup-autoscaler: two images from one Dockerfile, chosen with --target.
#   auto-scaler (the default): the daemon (`run`), with the kubernetes and docker extras and
#     Debian's docker-compose, so that it can scale on every platform; HEALTHCHECK on /healthz.
#   worker: a warmup worker (`worker`), the core dependencies only: no kubernetes client, no Docker
#     SDK, no docker-compose, no HTTP healthcheck (a worker serves no HTTP).
#
#   docker build --target auto-scaler -t warmup-autoscaler:latest .
#   docker build --target worker -t warmup-autoscaler-worker:latest .
#   (add --build-arg BASE_IMAGE=warmup-python-base:bookworm where no registry is reachable)
#
# The dependencies are installed from the requirements read from pyproject.toml, before the source
# is copied, so a change under src/ (or one to pyproject.toml that leaves the requirements alone)
# rebuilds only the last, small layer of each image (BENCHMARKS.md, "Images").
# BASE_IMAGE must be a Debian (bookworm) image with python3 >= 3.11 and its venv module:
# python:3.11-slim where a registry is reachable, or the one scripts/build-base-image.sh makes
# without any registry. If the build context holds a wheelhouse/ folder (scripts/build-images.sh
# prepares one), every Python package comes from it with no network; otherwise from PyPI.
ARG BASE_IMAGE=python:3.11-slim

# --- the requirements, read from pyproject.toml: the dependency layers change only when they do --
FROM ${BASE_IMAGE} AS requirements
LABEL io.warmup-autoscaler.stage=builder
WORKDIR /build
COPY pyproject.toml scripts/pyproject-requirements.py /build/
RUN python3 pyproject-requirements.py pyproject.toml --build >build.txt \
 && python3 pyproject-requirements.py pyproject.toml >worker.txt \
 && python3 pyproject-requirements.py pyproject.toml kubernetes docker >auto-scaler.txt

# --- build tools, which no image carries: binutils, and pip, setuptools and wheel in a venv ------
FROM ${BASE_IMAGE} AS build-tools
LABEL io.warmup-autoscaler.stage=builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PIP_CONFIG_FILE=/build/pip.conf
WORKDIR /build
# The wheelhouse's wheels (if any) land beside the script.
COPY scripts/strip-extensions.sh wheelhouse* /build/
COPY --from=requirements /build/*.txt /build/requirements/
RUN if ls /build/*.whl >/dev/null 2>&1; then \
      printf '[global]\nno-index = true\nfind-links = /build\n' >/build/pip.conf; \
    else \
      : >/build/pip.conf; \
    fi \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install -r requirements/build.txt

# --- the worker's dependencies, in the venv both images run from (no pip in it) -----------------
FROM build-tools AS worker-deps
RUN python3 -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python /opt/venv/bin/python install -r requirements/worker.txt \
 && ./strip-extensions.sh /opt/venv/bin/python
# More requirements to install beside the package, space-separated (e.g. your worker job's module).
ARG EXTRA_PIP_PACKAGES=""
RUN if [ -n "$EXTRA_PIP_PACKAGES" ]; then \
      /opt/build/bin/pip --python /opt/venv/bin/python install $EXTRA_PIP_PACKAGES \
      && ./strip-extensions.sh /opt/venv/bin/python; \
    fi

# --- the auto-scaler's: the same plus the kubernetes and docker extras -------------------------
# kubernetes 37 ships its asyncio client (kubernetes/aio, 68 MB) in the same distribution; the
# platform uses the synchronous one only, so the image leaves it out, then imports what it uses.
FROM worker-deps AS auto-scaler-deps
RUN /opt/build/bin/pip --python /opt/venv/bin/python install -r requirements/auto-scaler.txt \
 && ./strip-extensions.sh /opt/venv/bin/python \
 && aio="$(/opt/venv/bin/python -c 'import kubernetes, os; print(os.path.dirname(kubernetes.__file__))')/aio" \
 && test -d "$aio" && rm -rf "$aio" \
 && /opt/venv/bin/python -B -c "import kubernetes.client, kubernetes.config, docker"

# --- the package itself, installed under /opt/app laid out like the venv --------------------------
FROM worker-deps AS app
COPY pyproject.toml README.md /build/project/
COPY src /build/project/src
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /build/dist /build/project \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps --prefix /opt/app /build/dist/*.whl

# --- the base both images run on, without what only building needs ------------------------------
# Deleting files in a later layer would not make an image smaller, so the pruned base is copied
# whole into a fresh root: glibc's iconv modules (Python has its own codecs), ensurepip's wheels
# (the images run no `python -m venv`), and the standard library's pydoc data, lib2to3 and tests.
FROM ${BASE_IMAGE} AS slim-base
RUN rm -rf /usr/lib/*-linux-gnu/gconv /usr/share/python-wheels \
      /usr/lib/python3*/pydoc_data /usr/lib/python3*/lib2to3 /usr/lib/python3*/test

# --- what both images share: the slim base, the user and the environment ---------------------------
FROM scratch AS runtime
COPY --from=slim-base / /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
RUN (getent group warmup || groupadd --system --gid 10001 warmup) \
 && (getent passwd warmup || useradd --system --uid 10001 --gid warmup --home-dir /app \
      --no-create-home --shell /usr/sbin/nologin warmup) \
 && mkdir -p /app && chown warmup:warmup /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AUTO_SCALER_LOG_FORMAT=json
WORKDIR /app

# --- the worker image ------------------------------------------------------------------------------
FROM runtime AS worker
LABEL io.warmup-autoscaler.stage=worker
COPY --from=worker-deps /opt/venv /opt/venv
COPY --from=app /opt/app/ /opt/venv/
USER warmup
RUN warmup-autoscaler --help >/dev/null
ENTRYPOINT ["warmup-autoscaler"]
CMD ["worker"]

# --- the auto-scaler image (the default target) --------------------------------------------------
FROM runtime AS auto-scaler
LABEL io.warmup-autoscaler.stage=auto-scaler
# docker-compose (Debian's, Compose v1) lets the docker platform scale through Compose from
# inside the container; it talks to the Engine over the mounted socket and needs no docker CLI.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/*
COPY --from=auto-scaler-deps /opt/venv /opt/venv
COPY --from=app /opt/app/ /opt/venv/
ENV AUTO_SCALER_API_HOST=0.0.0.0
USER warmup
RUN warmup-autoscaler --help >/dev/null
EXPOSE 3001
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os,sys,urllib.request as u; port=os.environ.get('AUTO_SCALER_API_PORT','3001'); sys.exit(0 if u.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["warmup-autoscaler"]
CMD ["run"]
