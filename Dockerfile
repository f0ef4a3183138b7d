# SPDX-License-Identifier: Apache-2.0
# caetrain images. Targets:
#   cpu (default): the pure-Go build on a small Debian runtime.
#     docker build -t caetrain .
#     docker run --rm -v "$PWD/runs:/runs" caetrain --out /runs/demo
#   gpu: the CUDA build (-tags gpu), built on an NVIDIA CUDA 12 devel image
#   (gorgonia.org/cu v0.9.6 compiles against CUDA 12 headers, not 13's) and
#   run on the matching runtime image.
#     docker build --target gpu -t caetrain:gpu .
#     docker run --rm --gpus all -v "$PWD/runs:/runs" caetrain:gpu --device=cuda --out /runs/demo
ARG CUDA_VERSION=12.6.3

FROM golang:1.26-bookworm AS go

FROM go AS build-cpu
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/caetrain ./cmd/caetrain

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu24.04 AS build-gpu
COPY --from=go /usr/local/go /usr/local/go
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/local/go/bin:$PATH CGO_ENABLED=1 CGO_LDFLAGS=-L/usr/local/cuda/lib64/stubs
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The PTX is committed and embedded: no nvcc step, no GPU needed to build.
RUN go build -tags gpu -trimpath -ldflags='-s -w' -o /out/caetrain ./cmd/caetrain

FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu24.04 AS gpu
COPY --from=build-gpu /out/caetrain /usr/local/bin/caetrain
WORKDIR /work
ENTRYPOINT ["caetrain"]
CMD ["--device=cuda"]

FROM debian:bookworm-slim AS cpu
COPY --from=build-cpu /out/caetrain /usr/local/bin/caetrain
WORKDIR /work
ENTRYPOINT ["caetrain"]
