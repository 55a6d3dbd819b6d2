# Stand-in for the runtime base image (ubuntu:24.04 by default): Debian 12 with the service's
# run-time libraries. Debian 12's librdkafka is 2.0.2, older than the 2.1 the services need, so
# the librdkafka the host built from Debian 13's source (deploy/local/install.sh) is copied in.
FROM passerelle-local/debian:bookworm
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends libpq5 ca-certificates tzdata \
      libssl3 libsasl2-2 libzstd1 liblz4-1 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY librdkafka.so.1 /usr/local/lib/librdkafka.so.1
RUN ldconfig
