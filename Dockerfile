# Autopack's service image: the API with its dashboard (`serve`) or a worker (`worker`).
# The project repository is mounted at /project; runs commit only to autopack/<run_id> there.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap universal-ctags \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/autopack
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
 && git config --system --add safe.directory '*'

EXPOSE 8765
ENTRYPOINT ["autopack"]
CMD ["serve", "--repo", "/project", "--host", "0.0.0.0", "--port", "8765", "--no-worker"]
