# syntax=docker/dockerfile:1
# One image for every command: `docker run IMAGE serve|worker|migrate|purge|...` (ENTRYPOINT is
# fdr-whatsapp). Built from uv.lock only; the final stage has no compiler, no uv, no pip cache,
# no tests and no secrets, and runs as an unprivileged user. docs/deploy.md explains its use.

# --- build: resolve nothing, install exactly the lockfile ------------------------------------
# The tag follows 3.11's security fixes; pin it by digest where builds must repeat exactly.
FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The same uv as the Makefile's; it stays in this stage.
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first (a layer that survives code changes); every one of them is a wheel.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-default-groups --no-install-project
# Then the service itself, installed as a package (not editable: /src is not copied on).
COPY src ./src
RUN uv sync --frozen --no-dev --no-default-groups --no-editable

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} app \
    && useradd --system --uid ${APP_UID} --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
# `fdr-whatsapp migrate` reads the migrations from here (WA_ALEMBIC_DIR).
COPY alembic.ini ./
COPY alembic ./alembic
# var/: the default SQLite file, for trying the image out; production sets WA_DATABASE_URL.
RUN mkdir -p /app/var && chown app:app /app/var
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WA_ALEMBIC_DIR=/app \
    WA_LOG_JSON=true
USER ${APP_UID}:${APP_UID}
EXPOSE 8000 9464
# Liveness of `serve` (a worker serves no HTTP: run it with --no-healthcheck; Kubernetes uses
# the manifests' probes instead). Python is the client: the slim base has no curl.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
# Exec form: fdr-whatsapp is PID 1 and gets SIGTERM itself (uvicorn and the worker both finish
# what is in flight, then exit).
ENTRYPOINT ["fdr-whatsapp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
