# modbot container image, in two stages: a build stage compiles llama-cpp-python and installs modbot
# into /opt/modbot; the final stage gets that virtual environment and a Python, not the compilers.
#
#   docker build -t modbot .                          # CUDA build of llama.cpp (run with --gpus all)
#   docker build --build-arg VARIANT=cpu -t modbot:cpu .
#
# The model and the database are volumes (nothing is baked in): put the GGUF in the models volume
# (`modbot model pull --dest /var/lib/modbot/models`, or copy it there) and see deploy/compose.yaml.
# The health check asks /healthz on [metrics] port (MODBOT_METRICS__PORT, 9464 here).
ARG VARIANT=cuda
ARG CUDA_VERSION=12.6.3
ARG UBUNTU=ubuntu24.04

# -- base images: one pair per variant --------------------------------------------------------------
FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build-cuda
# Every GPU generation from Turing (RTX 20xx, T4) to Hopper by default; one is faster to build
# (--build-arg CUDA_ARCHITECTURES=89 for an RTX 40xx). The build machine needs no GPU (stub libcuda).
ARG CUDA_ARCHITECTURES="75;80;86;89;90"
ENV CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES} -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF"

FROM ubuntu:24.04 AS build-cpu
# Portable: no -march=native, so the image runs on any x86-64 CPU, not only the build machine's.
ENV CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF"

FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU} AS runtime-cuda
FROM ubuntu:24.04 AS runtime-cpu

# -- build: compilers, headers, pip caches; none of it reaches the final image ------------------------
# build-${VARIANT} is a stage above, not an image to tag (hadolint cannot tell with the variable).
# hadolint ignore=DL3006
FROM build-${VARIANT} AS build
ARG DEBIAN_FRONTEND=noninteractive
# Versions pinned to Ubuntu 24.04's (the trailing * takes its security updates).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential=12.10ubuntu* python3=3.12.3-* python3-dev=3.12.3-* python3-venv=3.12.3-* \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first (the slow llama.cpp build), so a code change does not rebuild them.
COPY pyproject.toml requirements.lock ./
RUN python3 -m venv /opt/modbot \
 && /opt/modbot/bin/pip install --no-cache-dir -c requirements.lock "llama-cpp-python==0.3.36"
COPY setup.py MANIFEST.in README.md ./
COPY bot bot
COPY adapters adapters
COPY migrations migrations
COPY policies policies
# A regular (not editable) install: migrations/ and policies/ travel inside the package (modbot/_data).
RUN /opt/modbot/bin/pip install --no-cache-dir -c requirements.lock ".[postgres]" \
 && /opt/modbot/bin/modbot --version

# -- final: Python, the OpenMP runtime llama.cpp uses, the venv, a non-root user ------------------------
# hadolint ignore=DL3006
FROM runtime-${VARIANT}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3=3.12.3-* libgomp1=14* \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/modbot modbot \
 && mkdir -p /var/lib/modbot/data /var/lib/modbot/models /var/lib/modbot/cache \
 && chown -R modbot:modbot /var/lib/modbot
COPY --from=build /opt/modbot /opt/modbot
COPY slack/manifest.yml /usr/share/modbot/slack-manifest.yml
ENV PATH=/opt/modbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MODBOT_CACHE_DIR=/var/lib/modbot/cache \
    MODBOT_DATABASE_URL=sqlite+aiosqlite:////var/lib/modbot/data/modbot.sqlite3 \
    MODBOT_REASONER__MODEL_PATH=/var/lib/modbot/models/openai.gpt-oss-safeguard-20b.Q4_K_M.gguf \
    MODBOT_METRICS__HOST=0.0.0.0 \
    MODBOT_METRICS__PORT=9464
USER 10001:10001
WORKDIR /var/lib/modbot
# The database (SQLite file), the model and the harmony vocabulary cache outlive the container.
VOLUME ["/var/lib/modbot/data", "/var/lib/modbot/models", "/var/lib/modbot/cache"]
EXPOSE 9464 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MODBOT_METRICS__PORT', '9464'), timeout=4)"]
ENTRYPOINT ["modbot"]
CMD ["serve"]
