# The irc manager image. `make docker-build` builds it (hack/image.sh: docker when a daemon answers,
# else buildah). BASE_IMAGE must hold Python >= 3.11 with venv (and apt-get, or OpenSSH's client
# already installed: Git over SSH runs `ssh`); hack/image.sh makes a Debian one locally when the
# default cannot be pulled.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# A CA bundle for pip when the package index sits behind a TLS-inspecting proxy (hack/image.sh).
ARG PIP_CERT
WORKDIR /src
# The dependencies first, in a layer of their own: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python3 -m venv /opt/irc \
 && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt \
 && /opt/irc/bin/pip install --no-cache-dir -q -r requirements.txt
COPY README.md ./
COPY irc ./irc
RUN /opt/irc/bin/pip wheel --no-cache-dir -q --no-deps --wheel-dir /wheels . \
 && /opt/irc/bin/pip install --no-cache-dir -q --no-deps /wheels/*.whl \
 && /opt/irc/bin/pip uninstall -q -y pip setuptools

FROM ${BASE_IMAGE}
ARG VERSION=dev
RUN command -v ssh >/dev/null || { apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-client >/dev/null \
 && rm -rf /var/lib/apt/lists/*; }
COPY --from=build /opt/irc /opt/irc
# The Git work directory is a volume in the manifests (manifests/base/manager.yaml); /tmp too, so the
# root filesystem can be read-only.
# OpenSSH's client refuses to run for a uid without a passwd entry: the image's user has one.
RUN mkdir -p /var/lib/irc/git && chown -R 65532:65532 /var/lib/irc \
 && echo "irc:x:65532:65532:irc:/tmp:/usr/sbin/nologin" >> /etc/passwd \
 && echo "irc:x:65532:" >> /etc/group
ENV PATH=/opt/irc/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
USER 65532:65532
ENTRYPOINT ["irc"]
CMD ["manager"]
LABEL org.opencontainers.image.title="irc" \
      org.opencontainers.image.description="Image automation and image backup for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
