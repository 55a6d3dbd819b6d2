# Stand-in for the python image (python:3.12-slim by default) the development identity provider
# is built on: Debian 12's Python 3.11 with pip, in a virtual environment on PATH so that
# `python3 -m pip install` works as in the official image.
FROM passerelle-local/debian:bookworm
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/python
ENV PATH=/opt/python/bin:$PATH \
    LANG=C.UTF-8
