# syntax=docker/dockerfile:1
# opencode-sidecar: the reference sidecar by default; `verify` and `load` are entry points too.
#   docker build -t opencode-sidecar .                          (from a registry base)
#   buildah bud --build-arg BASE_IMAGE=localhost/debian-python ... (offline, see tox -e image)
# WITH_OPENCODE=1 adds the real OpenCode (npm package opencode-ai) for RUNTIME=opencode.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY reference_server ./reference_server
COPY fakes ./fakes
COPY suites ./suites
COPY loadtests ./loadtests
COPY opencode_sidecar ./opencode_sidecar
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM ${BASE_IMAGE} AS runtime
ARG WITH_OPENCODE=0
ARG OPENCODE_VERSION=1.18.33
# hadolint ignore=DL3008
RUN if [ "$WITH_OPENCODE" = "1" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends nodejs npm ca-certificates git \
        && npm install -g "opencode-ai@${OPENCODE_VERSION}" \
        && npm cache clean --force \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --gid 10001 opencode \
    && useradd --uid 10001 --gid opencode --home-dir /home/opencode --create-home opencode \
    && mkdir -p /workspace \
    && chown opencode:opencode /workspace
COPY --from=build /opt/venv /opt/venv
COPY loadtests /app/loadtests
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=3003 \
    HOST=0.0.0.0 \
    WORKSPACE_DIR=/workspace
USER 10001:10001
WORKDIR /home/opencode
EXPOSE 3003
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3003'), timeout=4)"]
ENTRYPOINT ["opencode-sidecar"]
CMD ["serve"]
