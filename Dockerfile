# Multi-stage build of the wharf image, for builders with access to a
# registry holding the golang image. Without one, `make image` builds the
# same image from a binary built on the host.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make image-rootfs IMAGE_DIR=/out VERSION=$VERSION

# Keep the lines after FROM scratch in step with deploy/image/Dockerfile.
FROM scratch
COPY --from=build /out/rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
VOLUME ["/var/lib/registry"]
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 CMD ["/bin/wharf", "healthcheck"]
ENTRYPOINT ["/bin/wharf"]
CMD ["serve", "/etc/docker/registry/config.yml"]
