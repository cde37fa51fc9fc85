# syntax=docker/dockerfile:1
# facegate: CPU-only API image. Build: docker build -t facegate .   Run: docker compose up (docker-compose.yml)
# Two stages: `build` makes a virtual environment in /opt/venv; `runtime` is python:3.11-slim with that venv, the
# shipped model package and scripts/container-start, run as an unprivileged user. No compiler, no pip cache.

FROM python:3.11-slim-bookworm AS build
# pip compiles the .pyc files into the venv here: the runtime user cannot write them, and without them every
# worker would compile torch's modules again at each start.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The service runs on ONNX Runtime and needs no PyTorch (5.4 GB of a 6.3 GB environment; BENCHMARKS.md). Build with
# --build-arg FACEGATE_TORCH=1 for an image that can also run FACEGATE_INFERENCE_RUNTIME=torch: CPU wheels of torch
# and torchvision from PyTorch's CPU index (no CUDA libraries), --no-deps, so that `pip install ./[torch]` below finds
# torch==2.14.1 and torchvision==0.29.1 satisfied by these +cpu builds and takes their dependencies from PyPI.
ARG FACEGATE_TORCH=0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN if [ "$FACEGATE_TORCH" = "1" ]; then \
        pip install --no-deps --index-url "${TORCH_INDEX_URL}" torch==2.14.1+cpu torchvision==0.29.1+cpu; \
    fi
WORKDIR /src
COPY pyproject.toml README.md ./
COPY models ./models
COPY service ./service
# The service's runtime dependencies only (no train, dev or reference extra; training/ is not copied: the service
# never imports it). With torch: facenet-pytorch without its stale pins (torch<2.3, numpy<2), as scripts/bootstrap does.
RUN if [ "$FACEGATE_TORCH" = "1" ]; then \
        pip install "./[torch]" \
        && pip install --no-deps facenet-pytorch==2.6.0 \
        && python -c "import torch; assert torch.version.cuda is None, torch.version.cuda; import facenet_pytorch"; \
    else \
        pip install . \
        && python -c "import importlib.util as u; assert u.find_spec('torch') is None, 'torch in an ONNX-only image'"; \
    fi \
    && python -c "import service.main"

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    MALLOC_ARENA_MAX=2 \
    FACEGATE_HOST=0.0.0.0 \
    FACEGATE_PORT=8000 \
    FACEGATE_DB_WAIT_S=60 \
    FACEGATE_INDEX_PATH=/var/lib/facegate/index/index.fgi
RUN groupadd --system --gid 10001 facegate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/facegate --create-home \
       --shell /usr/sbin/nologin facegate \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/facegate/index
COPY --from=build /opt/venv /opt/venv
# The shipped model package, where models.package.DEFAULT_PACKAGE_PATH looks (the wheel does not carry it).
# FACEGATE_MODEL_PATH selects another package (a mounted folder or archive).
COPY models/packages/default /opt/venv/lib/python3.11/site-packages/models/packages/default
COPY --chmod=0755 scripts/container-start /usr/local/bin/container-start
# Fail the build, not the first start, when the package is missing or corrupt.
RUN python -c "from models.package import load_package; load_package(warn_untrained=False, network=False)" \
    && python -c "from models.mtcnn_onnx import OnnxMTCNN; OnnxMTCNN()"
USER 10001:10001
WORKDIR /var/lib/facegate
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FACEGATE_PORT', '8000') + '/readyz', timeout=2)"]
ENTRYPOINT ["container-start"]
CMD ["serve"]
