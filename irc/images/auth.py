"""Registry authentication: challenges, credentials, keychains, bearer tokens and TLS options.

An `Authenticator` answers, for one registry host, "which Authorization header goes on a request
that needs these scopes?". It learns the registry's `WWW-Authenticate` challenge (from the `/v2/`
ping or a 401), then sends basic credentials (challenge `Basic`) or runs the Docker token flow
(challenge `Bearer`): GET `realm?service=…&scope=…` with the basic credentials when it has them
(an `identitytoken` is exchanged by POST as an OAuth2 refresh token), caching each token per
(realm, service, scope set) until `expires_in` (default 60 s, counted from `issued_at` when given)
minus a margin (10 s, at most half the lifetime).

Credential scoping — the rule this package implements:

- An Authenticator belongs to exactly one registry host; a `Keychain` hands each host only the
  entry stored under that host (Docker Hub's aliases count as one host).
- Registry credentials and tokens go only to the registry's own origin (scheme, host and port of
  its API endpoint). A redirect to any other origin (blob storage) is followed without them.
- The only other place credentials go is the token realm that the registry itself named in its
  challenge; it may be another host (that is how token auth works). They never go over plain HTTP
  unless the registry was explicitly opted into plain HTTP (`RegistryOptions.plain_http`).
- Nothing here logs or formats a secret; `Credentials` hides its secrets from `repr`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import os
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import aiohttp
from yarl import URL

from irc.runtime.clock import Clock, RealClock

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
DEFAULT_TOKEN_LIFETIME = 60.0
TOKEN_MARGIN = 10.0
_T = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # an RFC 7230 token
_SCHEME = re.compile(rf"[ \t,]*({_T})(?=[ \t,]|$)")
_PARAM = re.compile(rf'[ \t]*,?[ \t]*({_T})[ \t]*=[ \t]*({_T}|"(?:[^"\\]|\\.)*")(?=[ \t]*(?:,|$))')


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: `scheme` and parameter names lowercased."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a `WWW-Authenticate` value (RFC 7235 auth-params; token68 is refused).

    Raises ValueError when the value is empty or malformed: a scheme that is not a token, a
    parameter without a value, an unterminated quoted string, text after a value, a repeated name.
    """
    out, pos = [], 0
    while header[pos:].strip(" \t,"):
        scheme = _SCHEME.match(header, pos)
        if scheme is None:
            raise ValueError(f"challenge scheme expected at {pos} in {header!r}")
        params: dict[str, str] = {}
        pos = scheme.end()
        while (param := _PARAM.match(header, pos)) is not None:
            key, value = param.group(1).lower(), param.group(2)
            if key in params:
                raise ValueError(f"parameter {key!r} repeated in {header!r}")
            params[key] = re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith('"') else value
            pos = param.end()
        rest = header[pos:].lstrip(" \t")
        if rest and not rest.startswith(","):
            raise ValueError(f"malformed challenge at {pos} in {header!r}")
        out.append(Challenge(scheme.group(1).lower(), params))
    if not out:
        raise ValueError("empty WWW-Authenticate value")
    return out


def parse_challenge(header: str) -> Challenge:
    """The first challenge of a `WWW-Authenticate` value; see `parse_challenges`."""
    return parse_challenges(header)[0]


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds from now (delta-seconds or HTTP-date); None when absent or invalid."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Credentials:
    """What a registry host accepts from us; secrets are hidden from repr.

    `username`/`password` are basic credentials (also sent to the token realm); `identity_token` is
    an OAuth2 refresh token (dockerconfig `identitytoken`); `registry_token` is a bearer token sent
    as is (dockerconfig `registrytoken`).
    """

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    @property
    def basic(self) -> str | None:
        """The `Authorization: Basic …` value, or None without a username."""
        if not self.username:
            return None
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


class CredentialProvider(Protocol):
    """Credentials that change over time (ECR tokens: `irc.ecr.tokens.EcrTokenProvider`); asked
    before each use."""

    async def get(self) -> Credentials | None: ...


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach one registry host. Defaults: HTTPS verified against the system trust store."""

    ca_file: str | None = None
    """PEM bundle trusted in addition to the system store. Defaults to None."""
    insecure: bool = False
    """Skip TLS verification for this host (explicit opt-in). Defaults to False."""
    plain_http: bool = False
    """Speak plain HTTP to this host (explicit opt-in; never inferred, not even for 127.0.0.1).
    Credentials then travel in clear text to it and to its token realm. Defaults to False."""

    def __post_init__(self) -> None:
        if self.plain_http and (self.ca_file or self.insecure):
            raise ValueError("plain_http excludes ca_file and insecure")

    @property
    def scheme(self) -> str:
        return "http" if self.plain_http else "https"

    def ssl_context(self) -> ssl.SSLContext:
        """The context for this host's HTTPS requests (system store + `ca_file`, or no verification).
        Shared while `ca_file` is unchanged on disk: loading the system store costs ≈30 ms, which
        was most of checking a completed backup."""
        changed = os.stat(self.ca_file).st_mtime_ns if self.ca_file and not self.insecure else None
        return _ssl_context(self.ca_file, self.insecure, changed)


@functools.lru_cache(maxsize=64)
def _ssl_context(ca_file: str | None, insecure: bool, changed: int | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    elif ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def normalize_host(key: str) -> str:
    """A registry key as written in dockerconfig or references → host[:port], lowercased;
    `https://index.docker.io/v1/`, `index.docker.io`, `registry-1.docker.io` → `docker.io`."""
    text = key.strip()
    host = (text.split("://", 1)[1] if "://" in text else text).split("/", 1)[0].lower()
    if not host:
        raise ValueError(f"no registry host in {key!r}")
    return DOCKER_HUB if host in _HUB_ALIASES else host


def api_host(host: str) -> str:
    """Where a registry's API lives: Docker Hub's is registry-1.docker.io, others are themselves."""
    return DOCKER_HUB_API if normalize_host(host) == DOCKER_HUB else host


class Keychain:
    """Registry host → Credentials, built from dockerconfigjson (or legacy dockercfg) Secrets.

    The first entry added for a host wins: add Secrets in order of precedence (e.g. the configured
    secret, then the workload's imagePullSecrets, then its ServiceAccount's).
    """

    def __init__(self, entries: Mapping[str, Credentials] | None = None) -> None:
        self._entries: dict[str, Credentials] = {}
        for host, creds in (entries or {}).items():
            self.add(host, creds)

    def add(self, host: str, credentials: Credentials) -> None:
        self._entries.setdefault(normalize_host(host), credentials)

    def extend(self, other: Keychain) -> None:
        for host, creds in other._entries.items():
            self.add(host, creds)

    def lookup(self, host: str) -> Credentials | None:
        return self._entries.get(normalize_host(host))

    @property
    def hosts(self) -> list[str]:
        return sorted(self._entries)

    def authenticator(self, host: str, *, clock: Clock | None = None) -> Authenticator:
        return Authenticator(host, self.lookup(host), clock=clock)

    @classmethod
    def from_docker_config(cls, config: Mapping[str, Any] | str | bytes) -> Keychain:
        """From a `.dockerconfigjson` document (`{"auths": {...}}`) or a `.dockercfg` one (the map)."""
        try:
            doc = json.loads(config) if isinstance(config, str | bytes) else config
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            raise ValueError("docker config is not JSON") from None
        auths = doc.get("auths", doc) if isinstance(doc, Mapping) else None
        if not isinstance(auths, Mapping):
            raise ValueError("docker config is not a JSON object of registries")
        chain = cls()
        for key, entry in auths.items():
            if (creds := _entry_credentials(str(key), entry)) is not None:
                chain.add(str(key), creds)
        return chain

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> Keychain:
        """From a Secret's `data` (base64 values) of type kubernetes.io/dockerconfigjson or dockercfg."""
        for key in (".dockerconfigjson", ".dockercfg"):
            if key in data:
                try:
                    return cls.from_docker_config(base64.b64decode(data[key], validate=True))
                except binascii.Error:
                    raise ValueError(f"secret key {key} is not base64") from None
        raise ValueError("secret has neither .dockerconfigjson nor .dockercfg")


def _entry_credentials(key: str, entry: object) -> Credentials | None:
    if not isinstance(entry, Mapping):
        raise ValueError(f"docker config entry for {key!r} is not an object")
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        try:
            username, sep, password = (
                base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise ValueError(f"docker config entry for {key!r}: `auth` is not base64 of user:password")
    creds = Credentials(
        username, password, str(entry.get("identitytoken") or ""), str(entry.get("registrytoken") or "")
    )
    return creds if creds != Credentials() else None


class TokenError(Exception):
    """The token realm (or ECR) refused or failed; `status` is its HTTP status, 0 when not HTTP."""

    def __init__(self, message: str, status: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


_Key = tuple[str, str, frozenset[str]]


class Authenticator:
    """Authorization for one registry host; safe to share between clients of that host."""

    def __init__(
        self,
        host: str,
        credentials: Credentials | CredentialProvider | None = None,
        *,
        clock: Clock | None = None,
        token_margin: float = TOKEN_MARGIN,
    ) -> None:
        self.host = normalize_host(host)
        self._credentials = credentials
        self._clock = clock or RealClock()
        self._margin = token_margin
        self.challenge: Challenge | None = None
        """The registry's challenge once known; until then requests go anonymously."""
        self._tokens: dict[_Key, tuple[str, float]] = {}  # key → (token, clock.now() deadline)
        self._locks: dict[_Key, asyncio.Lock] = {}
        self.token_requests = 0
        """Token exchanges made (tests read it to check caching)."""

    def learn(self, challenge: Challenge) -> None:
        self.challenge = challenge

    def forget(self, scopes: frozenset[str]) -> None:
        """Drop cached tokens for `scopes` (after the registry refused one)."""
        for key in [k for k in self._tokens if k[2] == scopes]:
            del self._tokens[key]

    async def credentials(self) -> Credentials | None:
        if self._credentials is None or isinstance(self._credentials, Credentials):
            return self._credentials
        return await self._credentials.get()

    async def authorization(
        self,
        session: aiohttp.ClientSession,
        scopes: frozenset[str],
        *,
        options: RegistryOptions,
        ssl_context: ssl.SSLContext | None = None,
        realm_options: Callable[[str], RegistryOptions] | None = None,
    ) -> str | None:
        """The Authorization value for a request to the registry needing `scopes`, or None.
        `options` and `ssl_context` are the registry's; a token realm on another host is reached with
        `realm_options(host)` (default: verified HTTPS only), never with the registry's."""
        challenge = self.challenge
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            return None
        creds = await self.credentials()
        if challenge.scheme == "basic":
            return creds.basic if creds else None
        if creds and creds.registry_token:
            return f"Bearer {creds.registry_token}"
        key = (challenge.params.get("realm", ""), challenge.params.get("service", ""), scopes)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is None or self._clock.now() >= cached[1]:
                cached = self._tokens[key] = await self._fetch_token(
                    session, key, creds, options, ssl_context, realm_options
                )
            return f"Bearer {cached[0]}"

    async def _fetch_token(
        self,
        session: aiohttp.ClientSession,
        key: _Key,
        creds: Credentials | None,
        options: RegistryOptions,
        ssl_context: ssl.SSLContext | None,
        realm_options: Callable[[str], RegistryOptions] | None,
    ) -> tuple[str, float]:
        realm, service, scopes = key
        url = URL(realm)
        if not url.absolute or url.scheme not in ("http", "https") or not url.host:
            raise TokenError(f"token realm {realm!r} is not an http(s) URL")
        # The registry's own options (plain HTTP, its CA, --registry-insecure) cover its own host only:
        # credentials go to a realm elsewhere as that host was configured, by default verified HTTPS.
        realm_host = url.host if url.explicit_port is None else f"{url.host}:{url.explicit_port}"
        if realm_host != api_host(self.host):
            options = realm_options(realm_host) if realm_options is not None else RegistryOptions()
            ssl_context = None if options.plain_http else options.ssl_context()
            opted = realm_host
        else:
            opted = self.host
        if url.scheme == "http" and not options.plain_http:
            raise TokenError(f"token realm {realm!r} is plain HTTP but {opted} is not opted into it")
        self.token_requests += 1
        ssl_arg: ssl.SSLContext | bool = (ssl_context or True) if url.scheme == "https" else False
        # Connection failures propagate as aiohttp errors, so the registry client retries them.
        if creds and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token, "client_id": "irc"}
            form |= {"service": service, "scope": " ".join(sorted(scopes))}
            request = session.post(url, data=form, ssl=ssl_arg, allow_redirects=False)
        else:
            query = [("service", service)] if service else []
            headers = {"Authorization": b} if creds and (b := creds.basic) else {}
            request = session.get(
                url.with_query(query + [("scope", s) for s in sorted(scopes)]),
                headers=headers,
                ssl=ssl_arg,
                allow_redirects=False,
            )
        async with request as response:
            body = await read_body(response, 1 << 20)
            if response.status != 200:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise TokenError(
                    f"token realm {url.host} answered {response.status}", response.status, retry_after
                )
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise TokenError(f"token realm {url.host} sent no token")
        return token, self._deadline(doc.get("expires_in"), doc.get("issued_at"))

    def _deadline(self, expires_in: object, issued_at: object) -> float:
        valid = isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0
        lifetime = float(expires_in) if valid else DEFAULT_TOKEN_LIFETIME  # type: ignore[arg-type]
        if isinstance(issued_at, str):
            try:
                age = self._clock.wall() - datetime.fromisoformat(issued_at).timestamp()
            except ValueError:
                age = 0.0
            lifetime -= max(0.0, age)  # a token issued in our future is not credited
        return self._clock.now() + lifetime - min(self._margin, max(lifetime, 0.0) / 2)


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body to its end, or its first `limit` + 1 bytes when it is longer (so the caller can tell).
    One `content.read(n)` is not enough: it returns what has arrived so far, at most n bytes."""
    chunks, size = [], 0
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
