# syntax=docker/dockerfile:1
# Two images from one file:
#   --target serve    the pod's sidecar: the reference on the real OpenCode, nothing else
#                     (no verify, no load); non-root, HEALTHCHECK, Landlock confinement
#                     needs no privilege (no `privileged`, no SYS_ADMIN).
#   --target toolkit  verify + load + pact + the reference (what CI of a sidecar runs).
#   docker build --target serve -t opencode-sidecar:serve .        (from a registry base)
#   buildah bud --build-arg BASE_IMAGE=localhost/debian-python ... (offline: scripts/build-image.sh)
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS source
WORKDIR /src
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY reference_server ./reference_server
COPY fakes ./fakes
COPY suites ./suites
COPY loadtests ./loadtests
COPY opencode_sidecar ./opencode_sidecar

# The sidecar's own dependencies only (what `python -X importtime -m opencode_sidecar.serve` loads);
# the project is installed without its verify/load dependencies.
FROM source AS build-serve
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        "aiohttp>=3.10" "httpx>=0.27" "jsonschema>=4.22" "referencing>=0.35" "PyYAML>=6" \
        "rfc3339-validator>=0.1.4" "rfc3986-validator>=0.1.1" "prometheus-client>=0.20" \
        "psutil>=5.9" "rich>=13" \
        "opentelemetry-api>=1.27" "opentelemetry-sdk>=1.27" "opentelemetry-exporter-otlp-proto-http>=1.27" \
        "opentelemetry-instrumentation-aiohttp-client>=0.48b0" \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps . \
    && find /opt/venv -name __pycache__ -prune -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3*/site-packages/pip /opt/venv/lib/python3*/site-packages/setuptools

FROM source AS build-toolkit
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check .

# OpenCode from npm; only its native binary (a single executable) reaches the serve image.
FROM ${BASE_IMAGE} AS opencode
ARG OPENCODE_VERSION=1.18.33
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && npm install --prefix /opt/opencode --no-audit --no-fund "opencode-ai@${OPENCODE_VERSION}" \
    && cp -L /opt/opencode/node_modules/opencode-ai/bin/opencode.exe /usr/local/bin/opencode \
    && /usr/local/bin/opencode --version

FROM ${BASE_IMAGE} AS toolkit
RUN groupadd --gid 10001 opencode \
    && useradd --uid 10001 --gid opencode --home-dir /home/opencode --create-home opencode \
    && mkdir -p /workspace \
    && chown opencode:opencode /workspace
COPY --from=build-toolkit /opt/venv /opt/venv
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

# Last stage = default target: the pod's sidecar.
FROM ${BASE_IMAGE} AS serve
RUN groupadd --gid 10001 opencode \
    && useradd --uid 10001 --gid opencode --home-dir /home/opencode --create-home opencode \
    && mkdir -p /workspace /var/lib/opencode-sidecar \
    && chown opencode:opencode /workspace /var/lib/opencode-sidecar
COPY --from=build-serve /opt/venv /opt/venv
COPY --from=opencode /usr/local/bin/opencode /usr/local/bin/opencode
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3003 \
    HOST=0.0.0.0 \
    WORKSPACE_DIR=/workspace \
    RUNTIME=opencode \
    OPENCODE_BIN=/usr/local/bin/opencode \
    OPENCODE_STATE_DIR=/var/lib/opencode-sidecar/opencode \
    SANDBOX=required
USER 10001:10001
WORKDIR /home/opencode
EXPOSE 3003
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3003'), timeout=4)"]
ENTRYPOINT ["python3", "-m", "opencode_sidecar.serve"]
