# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on a distroless base as a
# non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/taskflow ./cmd/taskflow

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/taskflow /taskflow
USER nonroot:nonroot
# Without DATABASE_URL the embedded SQLite store needs a writable directory;
# mount a volume here to keep its data. compose sets DATABASE_URL (Postgres).
ENV DATA_DIR=/home/nonroot/data
EXPOSE 8000
ENTRYPOINT ["/taskflow"]
CMD ["serve"]
