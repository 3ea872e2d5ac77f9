# warmup-autoscaler: one image for the auto-scaler daemon (`run`, the default) and the warmup
# workers (`worker`). Multi-stage: the builder makes a virtualenv, the runtime copies only it.
#
#   docker build -t warmup-autoscaler:latest .
#   docker build -t warmup-autoscaler:latest --build-arg BASE_IMAGE=warmup-python-base:bookworm .
#
# BASE_IMAGE must be a Debian (bookworm) image with python3 >= 3.11 and its venv module:
# python:3.11-slim where a registry is reachable, or the one scripts/build-base-image.sh makes
# without any registry. If the build context holds a wheelhouse/ folder (scripts/build-images.sh
# prepares one), everything is installed from it with no network; otherwise from PyPI.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
LABEL io.warmup-autoscaler.stage=builder
# More requirements to install beside the package, space-separated (e.g. your worker job's module).
ARG EXTRA_PIP_PACKAGES=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . /src
RUN python3 -m venv /opt/venv \
 && if [ -d wheelhouse ]; then \
      /opt/venv/bin/pip install --no-index --find-links wheelhouse warmup-autoscaler $EXTRA_PIP_PACKAGES; \
    else \
      /opt/venv/bin/pip install /src $EXTRA_PIP_PACKAGES; \
    fi \
 && /opt/venv/bin/warmup-autoscaler --help >/dev/null

FROM ${BASE_IMAGE} AS runtime
LABEL io.warmup-autoscaler.stage=runtime
# docker-compose (Debian's, Compose v1) lets the docker platform scale through Compose from
# inside the container; it talks to the Engine over the mounted socket and needs no docker CLI.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && (getent group warmup || groupadd --system --gid 10001 warmup) \
 && (getent passwd warmup || useradd --system --uid 10001 --gid warmup --home-dir /app \
      --no-create-home --shell /usr/sbin/nologin warmup) \
 && mkdir -p /app && chown warmup:warmup /app
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AUTO_SCALER_API_HOST=0.0.0.0 \
    AUTO_SCALER_LOG_FORMAT=json
WORKDIR /app
USER warmup
EXPOSE 3001
# The daemon's API; a worker container has no API, so the worker service overrides this check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os,sys,urllib.request as u; port=os.environ.get('AUTO_SCALER_API_PORT','3001'); sys.exit(0 if u.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["warmup-autoscaler"]
CMD ["run"]
