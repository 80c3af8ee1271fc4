"""Metrics behind Kubernetes authentication and authorization, as controller-runtime's
`filters.WithAuthenticationAndAuthorization` serves them (kubebuilder's default since v4).

    GET /metrics, Authorization: Bearer <token>
      ─▶ TokenReview (authentication.k8s.io/v1): who is it?        not authenticated → 401
      ─▶ SubjectAccessReview (authorization.k8s.io/v1): may that user `get` the non-resource URL
         /metrics?                                                   denied → 403, allowed → served

A request without a bearer token is 401 without asking anyone. Answers are remembered per token for
`ttl` seconds (10 s, the API server's own default for delegated authentication and authorization),
so a scrape every 15 to 30 s costs two reviews, and a revoked binding or token stops working within
the TTL. The server speaks TLS with the certificate in `--metrics-cert-dir` (tls.crt, tls.key, as
controller-runtime's CertDir), or one it makes for itself at start (self-signed, like
controller-runtime's fallback): the token must not cross the network in clear.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import socket
import ssl
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from irc.runtime import errors
from irc.runtime.client import ApiClient
from irc.runtime.clock import Clock

log = logging.getLogger(__name__)

TTL = 10.0
CACHE_SIZE = 1024
PATH = "/metrics"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MetricsAuth:
    """Decides whether a request may read the metrics (module docstring); `middleware` guards an app."""

    def __init__(self, client: ApiClient, clock: Clock, ttl: float = TTL) -> None:
        self._client, self._clock, self._ttl = client, clock, ttl
        self._answers: OrderedDict[str, tuple[float, int]] = OrderedDict()

    async def status(self, authorization: str | None) -> int:
        """200 when the bearer token's user may get /metrics, 403 when not, 401 when the token is
        missing or not authenticated. An API error propagates (the middleware answers 500)."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return 401
        key = hashlib.sha256(token.encode()).hexdigest()  # the token itself is never kept
        now = self._clock.now()
        cached = self._answers.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            self._answers.move_to_end(key)
            return cached[1]
        answer = await self._review(token)
        self._answers[key] = (now, answer)
        self._answers.move_to_end(key)
        while len(self._answers) > CACHE_SIZE:
            self._answers.popitem(last=False)
        return answer

    async def _review(self, token: str) -> int:
        review = await self._client.create(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        )
        reviewed = review.get("status") or {}
        if not reviewed.get("authenticated"):
            return 401
        user = reviewed.get("user") or {}
        spec = {
            "user": user.get("username", ""),
            "uid": user.get("uid", ""),
            "groups": user.get("groups") or [],
            "extra": user.get("extra") or {},
            "nonResourceAttributes": {"path": PATH, "verb": "get"},
        }
        access = await self._client.create(
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        )
        return 200 if (access.get("status") or {}).get("allowed") else 403

    @property
    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                code = await self.status(request.headers.get("Authorization"))
            except (errors.ApiError, OSError) as e:
                log.warning("cannot review a metrics request: %s", e)
                return web.Response(status=500, text="Authorization failed\n")
            if code == 401:
                return web.Response(status=401, text="Unauthorized\n")
            if code == 403:
                return web.Response(status=403, text="Forbidden\n")
            return await handler(request)

        return guard


def serving_context(cert_dir: str | None) -> ssl.SSLContext:
    """A server TLS context from `cert_dir`'s tls.crt and tls.key, or from a self-signed certificate
    made now (kept in memory but for the moment `ssl` reads it from a private temporary directory)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_dir:
        directory = Path(cert_dir)
        context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
        return context
    cert, key = _self_signed()
    with tempfile.TemporaryDirectory(prefix="irc-metrics-") as tmp:
        (Path(tmp) / "tls.crt").write_bytes(cert)
        (Path(tmp) / "tls.key").write_bytes(key)
        context.load_cert_chain(Path(tmp) / "tls.crt", Path(tmp) / "tls.key")
    return context


def _self_signed() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"irc-metrics@{socket.gethostname()}")])
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(socket.gethostname())]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key
