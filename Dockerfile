# rnncli with NVIDIA GPU support. Build and smoke-test:
#   docker build -t rnncli .
#   docker run --rm --gpus all rnncli doctor --require-gpu
#
# Builds with BuildKit and with the legacy builder alike (DOCKER_BUILDKIT=0, a distribution's docker.io without
# buildx): no `# syntax=` frontend to fetch from Docker Hub and no RUN --mount. Build arguments:
#   BASE_IMAGE     the base (default python:3.11-slim-bookworm), e.g. a mirror:
#                  --build-arg BASE_IMAGE=mirror.example.com/library/python:3.11-slim-bookworm
#   PIP_INDEX_URL  a package index mirror for pip (visible in `docker history`: no credentials in it)
#   CA certificates: put PEM files named *.crt into docker/ca-certificates/ (an intercepting proxy's CA); they are
#                  added to the system store and pip uses it for the install. Without any, nothing changes.
#
# Base: plain Python, not tensorflow/tensorflow:2.21.0-gpu. That image ships cuDNN 8.9 while TensorFlow 2.21 needs
# cuDNN 9, so TensorFlow registers no GPU in it (tensorflow/tensorflow#94593, tensorflow/build#221). Here CUDA and
# cuDNN come from pip wheels through the `gpu` extra, tensorflow[and-cuda]==2.21.*; the host contributes only the
# NVIDIA driver, through the NVIDIA Container Toolkit (`--gpus`).
# tensorflow 2.21.0's METADATA (Requires-Dist, extra == "and-cuda") pins: nvidia-cudnn-cu12 >=9.3.0.75,<10;
# nvidia-cublas-cu12, -cuda-cupti-cu12, -cuda-nvcc-cu12, -cuda-nvrtc-cu12, -cuda-runtime-cu12 >=12.5.82 (cublas
# >=12.5.3.2) and -nvjitlink-cu12 >=12.5.82, all <13; -cufft-cu12 >=11.2.3.61,<12; -curand-cu12 >=10.3.6.82,<11;
# -cusolver-cu12 >=11.6.3.83,<12; -cusparse-cu12 >=12.5.1.3,<13; -nccl-cu12 >=2.27.7,<3. Measured image: 6.85 GB,
# of which site-packages/nvidia is 4.2 GB and site-packages/tensorflow 1.9 GB.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG RNNCLI_VERSION=0.1.0
LABEL org.opencontainers.image.title="rnncli" \
      org.opencontainers.image.description="Declarative trainer for Keras 1 style RNNs on TensorFlow, with CUDA" \
      org.opencontainers.image.version="${RNNCLI_VERSION}" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TF_CPP_MIN_LOG_LEVEL=2

ARG PIP_INDEX_URL
WORKDIR /opt/rnncli
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/rnncli/
COPY pyproject.toml README.md ./
COPY rnncli ./rnncli
# The same install a user runs in a venv (--no-cache-dir: the wheels' cache would add gigabytes to the layer). With
# CA certificates given, pip trusts the system store they were added to. Versions are pinned by pyproject.toml,
# hence DL3013.
# hadolint ignore=DL3013
RUN if ls /usr/local/share/ca-certificates/rnncli/*.crt > /dev/null 2>&1; then \
        update-ca-certificates && export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; \
    fi \
    && pip install --no-cache-dir ".[gpu,serve]"

# The RUNPATHs in TensorFlow 2.21.0's shared objects ($ORIGIN/../nvidia/<lib>/lib) name cublas, cuda_cupti,
# cuda_runtime, cudnn, cufft, cusolver, cusparse and nccl but not curand, nvjitlink or nvrtc (readelf on the wheel),
# and pip-based images report dlopen failures for such libraries (libnvrtc: tensorflow/tensorflow#62194). So every
# pip-installed CUDA lib dir is registered with the dynamic linker; the ldconfig that the NVIDIA container hook runs
# at start reads this file too.
RUN python -c "import glob, sysconfig; \
print('\n'.join(sorted(glob.glob(sysconfig.get_path('platlib') + '/nvidia/*/lib'))))" \
        > /etc/ld.so.conf.d/rnncli-nvidia.conf \
    && grep -q /nvidia/ /etc/ld.so.conf.d/rnncli-nvidia.conf \
    && ldconfig

RUN useradd --create-home --uid 1000 --user-group rnncli \
    && mkdir /data \
    && chown rnncli:rnncli /data
USER 1000:1000

# Mount the project here: docker run --gpus all -v "$PWD":/data rnncli train configs/addition.yaml
WORKDIR /data
# `rnncli serve RUN --host 0.0.0.0` listens here. No HEALTHCHECK in the image: it also runs train, predict, ...;
# serving containers add --health-cmd "python -m rnncli.serve.healthcheck" (README, "Serving streams").
EXPOSE 8500
ENTRYPOINT ["rnncli"]
CMD ["--help"]
