# syntax=docker/dockerfile:1
#
# hookwall container image.
#
#   docker build --build-arg VERSION=v1.2.3 -t hookwall:v1.2.3 .
#   docker run --rm -p 8080:8080 \
#     -v "$PWD/hookwall.yaml:/etc/hookwall/hookwall.yaml:ro" \
#     -e LINE_CHANNEL_SECRET=... hookwall:v1.2.3
#
# The image holds no configuration: mount one at /etc/hookwall/hookwall.yaml
# (the Helm chart in charts/hookwall does it from a ConfigMap). Inside a
# container, `listen` must not be a loopback address: use "0.0.0.0:8080".
# Secrets written ${NAME} in the file are read from the environment.

# ---- build: a static, stripped binary --------------------------------------
# GOEXPERIMENT=jsonv2: encoding/json on its v2 implementation (the default
# from Go 1.27), which halves the LINE SDK's decoding cost (README).
FROM golang:1.26-bookworm AS build

# VERSION is stamped into main.version (`hookwall version`, start-up log).
ARG VERSION=dev

WORKDIR /src

# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOEXPERIMENT=jsonv2 CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o hookwall ./cmd/hookwall

# ---- run: distroless, no shell, non-root -----------------------------------
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /src/hookwall /hookwall

# 65532 is distroless's "nonroot" user; numeric so that Kubernetes'
# runAsNonRoot can check it without reading /etc/passwd.
USER 65532:65532

EXPOSE 8080

ENTRYPOINT ["/hookwall","serve","--config","/etc/hookwall/hookwall.yaml"]
