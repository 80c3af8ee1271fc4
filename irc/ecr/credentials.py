"""AWS credentials for a scan and the aiobotocore clients that use them (ECR scans, STS AssumeRole,
ECR authorization tokens for `irc.ecr.tokens`).

A policy's credentials come from one of three places, in this order of preference:

- `spec.aws.secretRef`: a Secret with accessKeyId, secretAccessKey and optionally sessionToken;
- otherwise the default chain of the manager's process (environment, shared config, IRSA's web
  identity token, EKS Pod Identity, instance metadata), resolved by botocore itself;
- and then, with `spec.aws.roleArn`, STS AssumeRole using the credentials above. Assumed
  credentials are cached per (role, source credentials) and renewed `margin` before they expire,
  so a scan never starts with credentials that could lapse during it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from irc.ecr.scan import DEFAULT_CONCURRENCY, ScanResult, classify, scan
from irc.ecr.select import ScanSpec
from irc.images.auth import TokenError
from irc.runtime.clock import Clock, RealClock

MARGIN = 900.0
"""Renew assumed-role credentials this long before they expire; longer than any sane scanTimeout."""
SECRET_KEYS = ("accessKeyId", "secretAccessKey")


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"AwsCredentials(access_key_id={self.access_key_id!r})"

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str], name: str) -> AwsCredentials:
        """From a Secret's base64 `data`; ValueError naming the Secret and what is missing."""
        missing = [k for k in SECRET_KEYS if not data.get(k)]
        if missing:
            raise ValueError(f"Secret {name} lacks {', '.join(missing)}")
        try:
            values = {
                k: base64.b64decode(data[k], validate=True).decode().strip()
                for k in (*SECRET_KEYS, "sessionToken")
                if data.get(k)
            }
        except ValueError:
            raise ValueError(f"Secret {name}: data is not base64 of UTF-8 text") from None
        return cls(values["accessKeyId"], values["secretAccessKey"], values.get("sessionToken") or None)

    def client_args(self) -> dict[str, Any]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


class AwsClients:
    """Makes ECR and STS clients that share one botocore session (its loaded service models) and,
    for tests and VPC endpoints, one endpoint URL."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        margin: float = MARGIN,
        session: AioSession | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._session = session or get_session()
        parsers = self._session.get_component("response_parser_factory")
        parsers.set_parser_defaults(timestamp_parser=parse_timestamp)
        self._clock = clock or RealClock()
        self._margin = margin
        self._assumed: dict[tuple[str, str | None, str], tuple[AwsCredentials, float]] = {}
        self._locks: dict[tuple[str, str | None, str], asyncio.Lock] = {}
        self.assume_role_calls = 0

    @contextlib.asynccontextmanager
    async def client(
        self,
        service: str,
        region: str,
        credentials: AwsCredentials | None,
        *,
        max_connections: int = 10,
        max_attempts: int = 5,
    ) -> AsyncIterator[Any]:
        """A client; `credentials` None means the default chain. Throttling, 5xx and connection
        errors are retried `max_attempts` times with botocore's jittered exponential backoff."""
        config = AioConfig(
            retries={"mode": "standard", "max_attempts": max_attempts},
            max_pool_connections=max_connections,
            connect_timeout=10,
            read_timeout=60,
        )
        args = credentials.client_args() if credentials is not None else {}
        async with self._session.create_client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=config, **args
        ) as client:
            yield client

    async def assume_role(
        self, role_arn: str, source: AwsCredentials | None, region: str, session_name: str
    ) -> AwsCredentials:
        """Credentials for `role_arn`, from the cache while they have more than `margin` left."""
        key = (role_arn, source.access_key_id if source else None, session_name)
        # One lock per key: a slow STS call for one policy must not hold up the others' cached roles.
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._assumed.get(key)
            if cached is not None and self._clock.wall() < cached[1] - self._margin:
                return cached[0]
            async with self.client("sts", region, source) as sts:
                answer = await sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)
            self.assume_role_calls += 1
            c = answer["Credentials"]
            assumed = AwsCredentials(c["AccessKeyId"], c["SecretAccessKey"], c.get("SessionToken"))
            self._assumed[key] = (assumed, c["Expiration"].timestamp())
            return assumed

    async def scan(
        self, spec: ScanSpec, credentials: AwsCredentials | None, *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> ScanResult:
        """`irc.ecr.scan` of `spec` with an ECR client of its region holding `concurrency` connections;
        ReconcileError also when the client cannot be made (a region botocore refuses, say)."""
        try:
            async with self.client(
                "ecr", spec.region, credentials, max_connections=spec.concurrency(concurrency)
            ) as ecr:
                return await scan(ecr, spec, concurrency=concurrency)
        except (ClientError, BotoCoreError) as e:
            raise classify(e) from e

    async def authorization_token(
        self, region: str, credentials: AwsCredentials | None, registry_ids: Sequence[str] = ()
    ) -> tuple[str, float]:
        """(authorizationToken, expiresAt in epoch seconds) from one ECR GetAuthorizationToken call
        (`irc.ecr.tokens.TokenSource`). TokenError with the HTTP status of a refusal (401 when AWS
        sent none, or found no credentials), or 503 when the endpoint was unreachable or answered
        garbage, which is worth retrying."""
        try:
            async with self.client("ecr", region, credentials) as client:
                kwargs = {"registryIds": list(registry_ids)} if registry_ids else {}
                data = (await client.get_authorization_token(**kwargs))["authorizationData"][0]
        except ClientError as e:
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 401))
            raise TokenError(f"ECR GetAuthorizationToken: {e}", status) from e
        except NoCredentialsError as e:
            raise TokenError(f"ECR GetAuthorizationToken: {e}", 401) from e
        except BotoCoreError as e:
            raise TokenError(f"ECR GetAuthorizationToken: {e}", 503) from e
        expires = data["expiresAt"]
        expires_at = expires.timestamp() if isinstance(expires, datetime.datetime) else float(expires)
        return str(data["authorizationToken"]), expires_at

    def forget(self, session_name: str) -> None:
        """Drop cached roles of one session name (its policy was deleted)."""
        for key in [k for k in self._locks if k[2] == session_name]:
            self._assumed.pop(key, None)
            del self._locks[key]


def parse_timestamp(value: object) -> datetime.datetime:
    """botocore's timestamp parser, without dateutil for the two forms AWS sends: epoch seconds (ECR's
    imagePushedAt) and ISO 8601 (STS's Expiration). dateutil cost a sixth of a scan's client CPU."""
    if isinstance(value, int | float):
        return datetime.datetime.fromtimestamp(value, datetime.UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    parsed_by_botocore: datetime.datetime = botocore_parse_timestamp(value)  # RFC 822 and the rest
    return parsed_by_botocore


def session_name(namespace: str, name: str) -> str:
    """An STS RoleSessionName for a policy: `irc-<namespace>-<name>`, within STS's 64 characters and
    alphabet, so CloudTrail shows which policy read the registry."""
    return re.sub(r"[^\w+=,.@-]", "-", f"irc-{namespace}-{name}")[:64]
