# syntax=docker/dockerfile:1
# kmsguard in a container: `docker build -t kmsguard .` then
#   docker run --rm -v "$PWD:/src:ro" kmsguard scan iac /src
# The runtime set comes from the lock (requirements/runtime.txt, pinned with hashes, compiled
# for Python 3.11: keep the base image on the same minor version).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements/ requirements/
# Behind a TLS-inspecting proxy, pass its CA bundle: --secret id=ca,src=/path/to/ca-bundle.crt
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/kmsguard \
 && /opt/kmsguard/bin/pip install --require-hashes --no-deps \
      -r requirements/build.txt -r requirements/runtime.txt
COPY pyproject.toml README.md LICENSE MANIFEST.in ./
COPY src/ src/
RUN /opt/kmsguard/bin/pip install --no-deps --no-build-isolation . \
 && /opt/kmsguard/bin/pip uninstall --yes setuptools pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="kmsguard" \
      org.opencontainers.image.description="Find, explain, fix and prevent exposed AWS KMS keys" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/kmsguard /opt/kmsguard
RUN useradd --system --uid 10001 --home-dir /home/kmsguard --create-home kmsguard
USER 10001:10001
ENV PATH=/opt/kmsguard/bin:$PATH PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
ENTRYPOINT ["kmsguard"]
CMD ["--help"]
