# modbot container. CPU by default; for an NVIDIA GPU build with
#   docker build --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-devel-ubuntu24.04 \
#                --build-arg CMAKE_ARGS="-DGGML_CUDA=on" -t modbot:cuda .
# and run with `--gpus all`. Models are not baked in: mount them (see README, "The reasoner").
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF"
ENV CMAKE_ARGS=${CMAKE_ARGS} \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MODBOT_CACHE_DIR=/var/lib/modbot/cache

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git python3 python3-venv python3-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot bot
COPY adapters adapters
COPY policies policies
COPY migrations migrations
COPY slack slack
# Editable install: the code runs from /app, where migrations/ and policies/ live.
RUN python3 -m venv /opt/modbot && /opt/modbot/bin/pip install -e .

RUN useradd --system --home /var/lib/modbot modbot && mkdir -p /var/lib/modbot/data /var/lib/modbot/cache \
 && chown -R modbot /var/lib/modbot
USER modbot
ENV PATH=/opt/modbot/bin:$PATH \
    MODBOT_DATABASE_URL=sqlite+aiosqlite:////var/lib/modbot/data/modbot.sqlite3
VOLUME ["/var/lib/modbot"]
EXPOSE 3000
ENTRYPOINT ["modbot"]
CMD ["serve"]
