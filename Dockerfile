# useg container images (docs/docker.md). Every RUN step calls a script in scripts/ that CI also
# executes (scripts/test.sh: install-deps.sh --check, build.sh, runtime-packages.sh,
# install-runtime.sh --check), because no Docker engine runs where this is developed.
#
#   docker build -t useg .                  CUDA image (default target `cuda`)
#   docker build -t useg:cpu --target cpu .  CPU-only image from debian:bookworm-slim
#   docker run --rm --gpus all -v "$PWD/data:/data" useg segment \
#       --model /opt/useg/models/nuclei2d --input /data/in --output /data/out --device cuda
#
# The CUDA tags below were chosen from NVIDIA's naming scheme (CUDA 13 + cuDNN 9 on Ubuntu 24.04)
# and have not been pulled or built here; override them with --build-arg if they differ.
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:13.0.0-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
ARG CPU_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- CPU: build, then run
FROM ${CPU_IMAGE} AS build-cpu
WORKDIR /src
# The packages first, so that a source change does not redo the apt layer.
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh --build-only
COPY . .
RUN BUILD_DIR=/build USEG_WITH_CUDA=OFF USEG_BUILD_TESTS=OFF TARGETS=useg scripts/build.sh
RUN scripts/runtime-packages.sh /build/useg > /build/runtime-packages.txt

FROM ${CPU_IMAGE} AS cpu
COPY scripts/install-runtime.sh /opt/useg/install-runtime.sh
COPY --from=build-cpu /build/runtime-packages.txt /opt/useg/runtime-packages.txt
RUN /opt/useg/install-runtime.sh /opt/useg/runtime-packages.txt
COPY --from=build-cpu /build/useg /usr/local/bin/useg
COPY models /opt/useg/models
USER useg
WORKDIR /data
ENTRYPOINT ["useg"]
CMD ["--help"]

# ---------------------------------------------------------------- CUDA: build, then run
FROM ${CUDA_DEVEL_IMAGE} AS build-cuda
WORKDIR /src
# The packages first, so that a source change does not redo the apt layer.
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh --build-only
COPY . .
RUN BUILD_DIR=/build USEG_WITH_CUDA=ON USEG_BUILD_TESTS=OFF TARGETS=useg scripts/build.sh
RUN scripts/runtime-packages.sh /build/useg > /build/runtime-packages.txt

FROM ${CUDA_RUNTIME_IMAGE} AS cuda
COPY scripts/install-runtime.sh /opt/useg/install-runtime.sh
COPY --from=build-cuda /build/runtime-packages.txt /opt/useg/runtime-packages.txt
RUN /opt/useg/install-runtime.sh /opt/useg/runtime-packages.txt
COPY --from=build-cuda /build/useg /usr/local/bin/useg
COPY models /opt/useg/models
USER useg
WORKDIR /data
ENTRYPOINT ["useg"]
CMD ["--help"]
