"""No credential parser lets a secret out through an error (issue 15, "exception tracebacks"): every
Secret irc reads (dockerconfigjson, AWS keys, Git credentials) is fed generated data with a canary in
its secret values, well-formed or broken in every way the generator finds (not base64, not UTF-8,
not JSON, cut short, wrong types, an `auth` without a colon), and whatever happens is checked: the
full traceback of an exception, its causes and contexts included, as a crash or a `log.exception`
would print it, and the repr of what parsed, hold neither the canary nor its base64.

e2e/test_secrets.py searches a whole manager's outputs for canaries that went down each failure path
once; this searches the parsers' failure paths themselves, many times over.
"""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from irc.ecr.credentials import AwsCredentials
from irc.gitops.auth import GitAuth
from irc.images.auth import Keychain

CANARY = "canary-5e3b7f0c9a"
FORMS = (CANARY, base64.b64encode(CANARY.encode()).decode(), CANARY.encode().hex())


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def outcome(parse: Callable[[], object]) -> str:
    """What the world may see of a parse: the whole traceback when it raises, else the repr."""
    try:
        parsed = parse()
    except Exception as e:  # anything: a crash prints whatever escapes
        return "".join(traceback.format_exception(e))
    return repr(parsed) + str(parsed)


# Values that carry the canary, in the shapes a broken Secret has them.
secret_text = st.sampled_from(
    [CANARY, f"{CANARY}:", f":{CANARY}", f"user:{CANARY}", f"{CANARY}\n", f"\ufeff{CANARY}", f"{CANARY}\x00"]
)
not_base64 = secret_text.map(lambda s: f"{s}!*")
json_leaf = st.one_of(
    secret_text,
    secret_text.map(b64),
    st.none(),
    st.booleans(),
    st.integers(),
    st.lists(secret_text, max_size=2),
)
entry = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "username": st.one_of(st.just("robot"), json_leaf),
            "password": json_leaf,
            "auth": st.one_of(json_leaf, not_base64, secret_text.map(lambda s: b64(f"robot:{s}"))),
            "identitytoken": json_leaf,
            "registrytoken": json_leaf,
        },
    ),
    json_leaf,
)
docker_config = st.one_of(
    st.dictionaries(st.sampled_from(["registry.example", "127.0.0.1:5000"]), entry, max_size=2).map(
        lambda auths: {"auths": auths}
    ),
    st.dictionaries(st.sampled_from(["registry.example"]), entry, max_size=1),  # .dockercfg: no "auths"
    st.builds(lambda leaf: {"auths": leaf}, json_leaf),
)


@st.composite
def docker_secret_data(draw: st.DrawFn) -> dict[str, str]:
    document = json.dumps(draw(docker_config))
    text = draw(
        st.sampled_from(["whole", "cut", "not-utf8", "not-base64"]).map(
            lambda how: {
                "whole": b64(document),
                "cut": b64(document[: len(document) * 2 // 3]),
                "not-utf8": b64(b"\xff" + document.encode()),
                "not-base64": document,
            }[how]
        )
    )
    return {draw(st.sampled_from([".dockerconfigjson", ".dockercfg"])): text}


@settings(max_examples=400, deadline=None)
@given(docker_secret_data())
def test_a_docker_config_secret_never_shows_its_secrets(data: dict[str, str]) -> None:
    assert not leaks(outcome(lambda: Keychain.from_secret_data(data)))


@st.composite
def aws_secret_data(draw: st.DrawFn) -> dict[str, str]:
    """The access key id is no secret (AWS prints it in its own errors): it has no canary."""
    secret = st.one_of(
        secret_text.map(b64), not_base64, secret_text.map(lambda s: b64(b"\xff" + s.encode())), st.just("")
    )
    values = {
        "accessKeyId": st.sampled_from([b64("AKIDEXAMPLE"), "AKID!*", ""]),
        "secretAccessKey": secret,
        "sessionToken": secret,
    }
    keys = draw(st.sets(st.sampled_from(sorted(values))))
    return {key: draw(values[key]) for key in keys}


@settings(max_examples=300, deadline=None)
@given(aws_secret_data())
def test_an_aws_secret_never_shows_its_secrets(data: dict[str, str]) -> None:
    assert not leaks(outcome(lambda: AwsCredentials.from_secret_data(data, "irc/aws")))


PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n"


@st.composite
def git_secret_data(draw: st.DrawFn) -> dict[str, Any]:
    def value(canary_in: st.SearchStrategy[str]) -> bytes:
        text = draw(canary_in)
        return draw(st.sampled_from([text.encode(), b"\xff" + text.encode(), text.encode("utf-16")]))

    keys = draw(
        st.sets(
            st.sampled_from(
                ["username", "password", "token", "ssh-privatekey", "identity", "ssh-passphrase", "ca.crt"]
            )
        )
    )
    data: dict[str, Any] = {}
    for key in keys:
        if key == "username":
            data[key] = b"robot"
        elif key in ("ssh-privatekey", "identity"):
            data[key] = value(st.one_of(secret_text, secret_text.map(PEM.format)))
        elif key == "ca.crt":
            data[key] = value(st.one_of(secret_text, secret_text.map(lambda s: f"-----BEGIN CERT {s}")))
        else:
            data[key] = value(secret_text)
    return data


@settings(max_examples=300, deadline=None)
@given(git_secret_data())
def test_a_git_secret_never_shows_its_secrets(data: dict[str, Any]) -> None:
    auth = outcome(lambda: GitAuth.from_secret_data(data))
    assert not leaks(auth)
