# chatsvc: the Flask app under gunicorn's gevent worker (REST and /ws on one port).
# Configuration comes from CHATSVC_* environment variables (see README.md);
# docker-compose.yml wires it to an OpenSearch container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHATSVC_BIND=0.0.0.0:8000

WORKDIR /app

# Dependencies first, so code changes do not invalidate this layer.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The application; .dockerignore keeps virtualenvs, engine data and VCS files out.
COPY . .

# Code stays owned by root (read-only to the service); the process runs unprivileged.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin chatsvc
USER chatsvc

EXPOSE 8000

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
