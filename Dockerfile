# syntax=docker/dockerfile:1

# tradetop as a small container image: a static binary (the SQLite driver is
# pure Go, so no cgo) on a distroless base that runs as an unprivileged user.
#
#   docker build -t tradetop .
#   docker run --rm -it tradetop                  # the terminal UI, all embedded
#   docker run --rm -e TRADETOP_NO_UI=true tradetop --count 20000
#
# docker-compose.yml builds it too and runs it headless against real Kafka
# and Cassandra.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a change of the sources reuses their layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/tradetop . \
	&& mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tradetop /usr/local/bin/tradetop
# The data directory belongs to the image's user (nonroot, 65532), and a new
# named volume mounted on it takes that owner, so tradetop can write there.
COPY --from=build --chown=65532:65532 /out/data /data
ENV TRADETOP_DATA_DIR=/data
VOLUME ["/data"]
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tradetop"]
