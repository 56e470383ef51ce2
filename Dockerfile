# syntax=docker/dockerfile:1
# livevote production image: `docker compose up` runs it (see docker-compose.yml).
# Build stage: turn the project into wheels (all dependencies ship manylinux wheels for 3.11).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock ./
COPY src ./src
# requirements.lock pins what CI tested (scripts/bootstrap uses it the same way).
RUN pip wheel --constraint requirements.lock --wheel-dir /wheels .

# Runtime stage: the installed package, the index specifications, an unprivileged user.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIVEVOTE_ENV=production \
    LIVEVOTE_DEMO=false \
    LIVEVOTE_PORT=8000 \
    LIVEVOTE_INDEXES_DIR=/app/indexes
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels livevote \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin livevote
WORKDIR /app
# indexes/ is data read at start-up (`livevote indexes apply|check`); the installed package
# cannot find it next to its sources, hence LIVEVOTE_INDEXES_DIR.
COPY indexes ./indexes
USER livevote
EXPOSE 8000
# python:3.11-slim has no curl: probe readiness (MongoDB + Redis pings) with the stdlib.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]
# SIGTERM → uvicorn's graceful shutdown (the CLI turns it into SystemExit in the parent).
STOPSIGNAL SIGTERM
CMD ["livevote", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
