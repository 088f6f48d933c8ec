# The salesflow reference server: API, outbox relay and worker in one
# static binary, on a distroless base, running as a non-root user.
#
#   docker build -t salesflow .
#   docker run -p 8080:8080 salesflow            # embedded mode
#   docker run salesflow worker                  # the worker alone

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/server ./examples/server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/server /server
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/server"]
CMD ["serve"]
