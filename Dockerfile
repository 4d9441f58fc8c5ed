# Autopack's service image: the API with its dashboard (`serve`) or a worker (`worker`).
# The project repository is mounted at /project; runs commit only to autopack/<run_id> there.
# It runs as the unprivileged user autopack, uid 10001 (gid 10001): the worker executes code a
# model wrote, so nothing in the container runs as root. /project must be writable by that uid
# (docs/server.md, "Docker"), or run the services as your own uid (AUTOPACK_UID in compose).
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap universal-ctags \
 && rm -rf /var/lib/apt/lists/*

# Installed as root and left root-owned: the user that runs model-written code cannot change
# Autopack itself.
WORKDIR /opt/autopack
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
 && git config --system --add safe.directory '*'

# The user owns only its home and the mount point; a home any uid may write keeps git and caches
# working when compose runs the services as another uid.
RUN groupadd --gid 10001 autopack \
 && useradd --uid 10001 --gid 10001 --home-dir /home/autopack --create-home \
      --shell /usr/sbin/nologin autopack \
 && chmod 1777 /home/autopack \
 && mkdir /project \
 && chown 10001:10001 /project
ENV HOME=/home/autopack
WORKDIR /project
USER 10001:10001

EXPOSE 8765
ENTRYPOINT ["autopack"]
CMD ["serve", "--repo", "/project", "--host", "0.0.0.0", "--port", "8765", "--no-worker"]
