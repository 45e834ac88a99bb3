# cloudnet's one image: cloudnet-controller, cloudnet-ipamd and cloudnet-cni, statically linked,
# on a distroless base. The chart runs the controller as uid 65532 (non-root) and the node
# DaemonSet's containers as root (they write the host's CNI and ipamd directories).
#
# Not built or published by this repository's CI: build and push it yourself, e.g.
#   docker build -t <registry>/cloudnet:0.1.0 . && docker push <registry>/cloudnet:0.1.0

FROM rust:1.94-bookworm AS build
# aws-lc-rs (the AWS SDK's TLS) needs cmake and clang; protoc is not needed (protox).
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Static glibc binaries: no libc in the final image. They resolve names with /etc/hosts and DNS
# only (no NSS modules), which is all they need.
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN cargo build --release --locked --target x86_64-unknown-linux-gnu \
      -p cloudnet-controllers --bin cloudnet-controller \
      -p cloudnet-ipamd --bin cloudnet-ipamd --bin cloudnet-cni \
    && mkdir -p /out \
    && for b in cloudnet-controller cloudnet-ipamd cloudnet-cni; do \
         cp target/x86_64-unknown-linux-gnu/release/$b /out/; done

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cloudnet-controller /usr/local/bin/cloudnet-controller
COPY --from=build /out/cloudnet-ipamd /usr/local/bin/cloudnet-ipamd
COPY --from=build /out/cloudnet-cni /usr/local/bin/cloudnet-cni
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cloudnet-controller"]
