# SPDX-License-Identifier: Apache-2.0
# caetrain images. Targets:
#   cpu (default): the pure-Go build on a small Debian runtime.
#     docker build -t caetrain .
#     docker run --rm -v "$PWD/runs:/runs" caetrain --out /runs/demo

FROM golang:1.26-bookworm AS build-cpu
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/caetrain ./cmd/caetrain

FROM debian:bookworm-slim AS cpu
COPY --from=build-cpu /out/caetrain /usr/local/bin/caetrain
WORKDIR /work
ENTRYPOINT ["caetrain"]
