# One image for the server, the scheduler and the workers (docker-compose.yml runs them).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --home-dir /var/lib/plait plait
WORKDIR /opt/plait
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[server,worker]"
USER plait
ENV PLAIT_DATA_DIR=/var/lib/plait
EXPOSE 8000
CMD ["plait", "server", "--host", "0.0.0.0", "--port", "8000"]
