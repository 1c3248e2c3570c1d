# Bulwark's container image: a static binary on distroless, as a non-root
# user, with its data directory at /data.
#
#   docker build -t bulwark:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8080:8080 -v bulwark-data:/data bulwark:dev
#
# Arguments after the image name are more flags for serve, e.g. a config:
#   docker run -p 8080:8080 -v bulwark-data:/data \
#     -v ./bulwark.yaml:/etc/bulwark/bulwark.yaml:ro \
#     bulwark:dev --config /etc/bulwark/bulwark.yaml

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/bulwark ./cmd/bulwark \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bulwark /bulwark
# The data directory, owned by the image's user (nonroot, 65532).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/bulwark", "serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
