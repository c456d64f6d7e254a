# syntax=docker/dockerfile:1
#
# One image for every process of the application; only the command differs:
#   API (default)   uvicorn api.main:app --host 0.0.0.0 --port 8000
#   worker          python worker.py
#   migrations      python -m scripts.bootstrap [--seed]
# Configuration comes from the environment (see core/config.py and docker-compose.yml).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv holding the runtime dependencies and the project (no dev extras) ---
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY . .
RUN pip install --no-deps .

# --- runtime ---
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

# The source tree is kept as well, read-only and owned by root, and put first on the path
# (PYTHONPATH): core.migrate finds the Alembic scripts in migrations/ next to the source, and
# scripts.demo_data the demo data in demo/ (for `scripts.bootstrap --seed`); neither folder is part
# of the installed package.
WORKDIR /app
COPY . .
RUN python -m compileall -q /app

USER 10001:10001
EXPOSE 8000

CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
