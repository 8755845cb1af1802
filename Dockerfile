# The Wheelhouse image: the web server by default; docker-compose.yml runs the Celery worker and
# beat from it too.
FROM python:3.11-slim

# The code runs from /app, where manage.py and templates/ sit beside the packages (settings find
# templates relative to config/). PYTHONPATH puts /app before site-packages, so every process
# (gunicorn, celery, manage.py) imports this copy. DATA_DIR is scratch space only (collected
# static files): in this image the data lives in PostgreSQL and S3. MALLOC_ARENA_MAX: glibc
# gives each thread (gunicorn's and boto3's upload threads) a heap of its own and keeps what
# they freed; with two, four parallel 90 MB uploads leave a worker 143 MB resident, not 194.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DATA_DIR=/app/var \
    MALLOC_ARENA_MAX=2

WORKDIR /app

# Copy only what the registry runs. A plain `COPY . .` would take .venv/, .git/ and var/, which
# holds a development database and secret_key. A new top-level package needs a line here.
COPY pyproject.toml README.md manage.py ./
COPY config ./config
COPY core ./core
COPY accounts ./accounts
COPY registry ./registry
COPY uploads ./uploads
COPY publishing ./publishing
COPY webhooks ./webhooks
COPY analytics ./analytics
COPY api ./api
COPY templates ./templates
COPY static ./static

# `pip install .` installs the dependencies pyproject.toml declares.
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && useradd --system --uid 10001 --no-create-home --home-dir /app wheelhouse \
    && mkdir -p /app/var \
    && chown wheelhouse /app/var

USER wheelhouse

EXPOSE 8000

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4"]
