# syntax=docker/dockerfile:1
# The production image: one image for every process. The default command serves the web
# app; override it for the others, e.g.
#   docker run IMAGE python manage.py migrate
#   docker run IMAGE python manage.py consume_scores
# (see docs/operations.md).
FROM python:3.11-slim

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /app

# Locked runtime dependencies only (no embedded services, no test tools), in a layer of
# their own so a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-cache

COPY . .

# collectstatic imports the settings, which insist on a secret key; this throwaway one
# exists for this step only and is not in the runtime environment.
ARG DJANGO_SECRET_KEY=collectstatic-only-not-a-secret
RUN mkdir -p static \
    && DJANGO_SECRET_KEY="$DJANGO_SECRET_KEY" python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --no-create-home --home-dir /app app
USER app

EXPOSE 8000
# Workers: WEB_CONCURRENCY (gunicorn reads it; default 1).
# Timeouts and limits: gunicorn.conf.py (read from /app).
CMD ["gunicorn", "config.wsgi:application"]
