# One image for every daemon of mempool-ws, built with uv from the locked dependencies.
#   docker build -t mempool-ws .
#   docker run --rm -e MEMPOOL_WS_REDIS_URL=redis://redis:6379/0 -p 127.0.0.1:8000:8000 mempool-ws            (gateway)
#   docker run --rm -e MEMPOOL_WS_REDIS_URL=redis://redis:6379/0 mempool-ws python -m ingestor                 (ingestor)
# Any `mempool-ws <command>` works as the command too; every setting is an environment variable MEMPOOL_WS_*.
# Both base images are build arguments (repository and tag), so a build with no registry can use local
# stand-ins: .ci/checks/image.sh passes --build-arg PYTHON_IMAGE=... PYTHON_TAG=... UV_IMAGE=... UV_TAG=...
ARG PYTHON_IMAGE=python
ARG PYTHON_TAG=3.11-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv
ARG UV_TAG=0.13.9

FROM ${UV_IMAGE}:${UV_TAG} AS uv

FROM ${PYTHON_IMAGE}:${PYTHON_TAG} AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
# Dependencies first (their layer survives source edits), then the project itself, installed non-editable.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY shared ./shared
COPY ingestor ./ingestor
COPY mcp_gateway ./mcp_gateway
COPY simulator ./simulator
COPY mempool_ws ./mempool_ws
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE}:${PYTHON_TAG} AS runtime
LABEL org.opencontainers.image.title="mempool-ws" \
      org.opencontainers.image.description="mempool.space feed as a Redis event bus and MCP tools for LLM agents" \
      org.opencontainers.image.licenses="MIT" \
      io.modelcontextprotocol.server.name="io.github.mempool-ws/mempool-ws"
RUN groupadd --system --gid 10001 mempool \
    && useradd --system --uid 10001 --gid mempool --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mempool
COPY --from=builder /opt/venv /opt/venv
COPY deploy/docker/healthcheck.py /opt/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEMPOOL_WS_HOST=0.0.0.0 \
    MEMPOOL_WS_METRICS_HOST=0.0.0.0
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000 9108
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["python", "/opt/healthcheck.py"]
CMD ["python", "-m", "mcp_gateway"]
