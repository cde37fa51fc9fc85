# syntax=docker/dockerfile:1
# facegate: CPU-only image. Build: docker build -t facegate .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# CPU wheels of torch/torchvision, so the image carries no CUDA libraries.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md ./
COPY models ./models
COPY training ./training
COPY service ./service
# Runtime dependencies only; facenet-pytorch without its stale pins (see pyproject.toml).
RUN pip install . && pip install --no-deps facenet-pytorch==2.6.0

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 OMP_WAIT_POLICY=PASSIVE \
    FACEGATE_HOST=0.0.0.0 FACEGATE_PORT=8000
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/facegate facegate
COPY --from=build /opt/venv /opt/venv
USER facegate
WORKDIR /var/lib/facegate
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FACEGATE_PORT', '8000') + '/readyz', timeout=2)"]
CMD ["python", "-m", "service"]
