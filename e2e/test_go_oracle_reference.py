"""irc.images' references against distribution/reference v0.6.0 (hack/go-oracle, from hack/build-binaries.sh).

For every text both sides agree on validity (``ParseNormalizedNamed``), and for a valid one on every part:
``registry``/``repository`` are ``Domain``/``Path``, ``name`` is ``Name()``, ``str`` is ``String()``, tag and
digest as written, ``familiar_name``/``familiar`` are ``FamiliarName``/``FamiliarString``, and
``with_default_tag`` is ``ParseDockerRef`` (which also drops a tag written beside a digest; irc keeps it).
The one documented difference: where Go's familiar form names another image (it parses back, through Go,
to another reference: ``docker.io/example.com/app`` → ``example.com/app``), irc's is the full name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hack.testbed.oracle import Oracle
from irc.images import ImageReference, parse_reference
from tests.images import test_reference as unit


def _irc(ref: ImageReference) -> dict[str, Any]:
    """The parts of ``ref`` in the oracle's terms."""
    pulled = ref.with_default_tag()
    if ref.digest is not None:
        pulled = dataclasses.replace(pulled, tag=None)
    return {
        "ok": True,
        "normalized": str(ref),
        "familiar": ref.familiar,
        "familiar_name": ref.familiar_name,
        "name": ref.name,
        "domain": ref.registry,
        "path": ref.repository,
        "tag": ref.tag or "",
        "digest": ref.digest or "",
        "docker_ref_ok": True,
        "docker_ref": str(pulled),
    }


def disagreements(oracle: Oracle, texts: list[str]) -> list[str]:
    answers = oracle.ask([{"op": "reference", "text": t} for t in texts])
    out, familiar_checks = [], []
    for text, go in zip(texts, answers, strict=True):
        try:
            ref = parse_reference(text)
        except ValueError as err:
            if go["ok"]:
                out.append(f"{text!r}: irc rejects ({err}), Go reads {go['normalized']!r}")
            continue
        if not go["ok"]:
            out.append(f"{text!r}: irc reads {ref!r}, Go rejects ({go['error']})")
            continue
        assert parse_reference(str(ref)) == ref and parse_reference(ref.familiar) == ref
        del go["error"]
        mine = _irc(ref)
        if mine["familiar"] != go["familiar"] and mine["familiar"] == str(ref):
            # irc keeps the full name; allowed only where Go's short form names another image
            familiar_checks.append((text, go["familiar"], go["normalized"]))
            mine["familiar"], mine["familiar_name"] = go["familiar"], go["familiar_name"]
        if mine != go:
            differing = {k: (mine[k], go[k]) for k in mine if mine[k] != go[k]}
            out.append(f"{text!r}: (irc, Go) differ in {differing}")
    if familiar_checks:
        reread = oracle.ask([{"op": "reference", "text": short} for _, short, _ in familiar_checks])
        for (text, short, full), go in zip(familiar_checks, reread, strict=True):
            if go["ok"] and go["normalized"] == full:
                out.append(f"{text!r}: irc's familiar is the full name, but Go's {short!r} parses back")
    return out


HEX64 = unit.HEX64
HOSTS = [
    "localhost", "LOCALHOST", "Localhost", "localhost:5000", "localhost:0", "localhost:", "docker.io",
    "Docker.io", "index.docker.io", "Index.Docker.IO", "registry-1.docker.io", "example.com",
    "Example.COM", "example.com:05000", "example.com:99999999", "example.com:x", "ex_ample.com",
    "a_b.example", "a__b.c", "a-b.c", "-a.b", "a-.b", "a..b", ".a", "a.", "127.0.0.1", "127.0.0.1:5000",
    "[::1]", "[::1]:5000", "[::1]:", "[::]", "[:]", "[::1::2]", "[1:2:3]", "[2001:DB8::0001]:443",
    "[12345::1]", "[fe80::1%eth0]", "[::ffff:1.2.3.4]", "[]", "[::1", "::1", "[::1]x", "Team", "team",
    "a:1:2", "xn--80ak6aa92e.com", "é.com", "ghcr.io", f"{unit.ECR}",
]  # fmt: skip
PATHS = [
    "app", "team/app", "library/app", "a/b/c/d", "a_b/c__d/e.f/g--h---i", "a___b", "a..b", "a.-b", "-a",
    "a-", "A", "App", "team/App", "a//b", "/a", "a/", "", "é", "a!b", "library", "localhost/app",
    "example.com/app", "a_b.c/app", "a" * 63, "library/a/b", "0/1",
]  # fmt: skip
SUFFIXES = [
    "", ":1", ":latest", ":V1.0-RC_2", ":_x", ":.x", ":-x", ":", ":a+b", ":1:2", ":" + "t" * 128,
    ":" + "t" * 129, f"@{unit.D256}", f":1@{unit.D256}", f"@{unit.D384}", f"@{unit.D512}",
    "@sha256:" + HEX64.upper(), "@SHA256:" + HEX64, "@sha256:" + HEX64[:63], "@sha256:" + HEX64 + "0",
    "@sha512:" + HEX64, "@blake3:" + HEX64, "@tarsum.v1+sha256:" + HEX64, "@sha256+b64:" + HEX64,
    "@blake3:" + "0" * 31, "@1sha:" + "0" * 32, "@sha256:" + "g" * 64, "@", "@sha256", "@sha256:",
    f"@{unit.D256}@{unit.D256}", f"@{unit.D256}:1",
]  # fmt: skip


def _hand_picked() -> list[str]:
    texts = [f"{h}/{p}{s}" for h in HOSTS for p in PATHS[:8] for s in ("", ":1")]
    texts += [f"{p}{s}" for p in PATHS for s in SUFFIXES]
    texts += [f"{h}/app{s}" for h in HOSTS for s in SUFFIXES[::3]]
    texts += [
        *HOSTS,
        "",
        " nginx",
        "nginx ",
        "a b",
        "nginx\n",
        HEX64,
        HEX64.upper(),
        HEX64 + "0",
        f"@{unit.D256}",
    ]
    return texts


def _long_names() -> list[str]:
    """Paths of 250-260 characters, with and without a registry (whose length Go does not count)."""
    texts = []
    for length in range(250, 261):
        for head in ("", "library/", "ghcr.io/", "localhost:5000/", "a_b.c/"):
            body = "a/" + "b" * (length - 2 - (len(head) if head in ("library/", "a_b.c/") else 0))
            texts += [f"{head}{body}", f"{head}{body}:1", "x" * 200 + f".example.com/{body}"]
    single = [("c" * n) for n in (246, 247, 248, 249)]  # docker.io/library/ + one component
    return texts + single


def test_hand_picked_references(oracle: Oracle) -> None:
    texts = _hand_picked()
    assert len(texts) > 1500
    assert disagreements(oracle, texts) == []


def test_long_names(oracle: Oracle) -> None:
    assert disagreements(oracle, _long_names()) == []


def test_unit_tables_agree_with_distribution_reference(oracle: Oracle) -> None:
    """tests/images/test_reference.py's expectations are distribution/reference's answers too."""
    rows = unit.ACCEPT + [row[1:] for row in unit.GO_FINDINGS]
    accepted = oracle.ask([{"op": "reference", "text": row[0]} for row in rows])
    for (_, registry, repository, tag, digest), go in zip(rows, accepted, strict=True):
        assert (go["ok"], go["domain"], go["path"], go["tag"], go["digest"]) == (
            True, registry, repository, tag or "", digest or ""
        )  # fmt: skip
    texts = [text for text, _ in unit.REJECT] + [text for _, text, _ in unit.GO_FINDINGS_REJECTED]
    rejected = oracle.ask([{"op": "reference", "text": text} for text in texts])
    assert [go["ok"] for go in rejected] == [False] * len(texts)
    familiar = oracle.ask([{"op": "reference", "text": row[0]} for row in unit.FAMILIAR])
    for (_, short, full), go in zip(unit.FAMILIAR, familiar, strict=True):
        assert go["normalized"] == full
        assert go["familiar"] == short or short == full


# Generated texts: a registry part, path components and a suffix, each drawn from pieces that sit on the
# grammar's edges (case, separators, ports, IPv6, lengths, digests), plus raw text over the grammar's
# punctuation; every example sends 50 texts through both sides.
_labels = st.text("aAz09-_", min_size=0, max_size=5)
_domain = st.lists(_labels, min_size=1, max_size=3).map(".".join)
_ipv6 = st.text("0aF:g", min_size=0, max_size=8).map(lambda s: f"[{s}]")
_port = st.sampled_from(["", "", "", ":5000", ":0", ":05", ":", ":x", ":65536"])
_host = st.one_of(st.sampled_from(HOSTS), st.builds(lambda h, p: h + p, st.one_of(_domain, _ipv6), _port))
_component = st.one_of(
    st.text("ab0._-A", min_size=0, max_size=6),
    st.from_regex(r"[a-z0-9]{1,3}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,3}){0,2}", fullmatch=True),
)
_path = st.lists(_component, min_size=1, max_size=4).map("/".join)
_hex = st.builds(
    lambda digits, length, upper: (digits * 130)[:length].upper() if upper else (digits * 130)[:length],
    st.text("0123456789abcdef", min_size=1, max_size=4),
    st.sampled_from([0, 31, 32, 63, 64, 65, 95, 96, 97, 127, 128, 129]),
    st.booleans(),
)
_algorithm = st.sampled_from(["sha256", "sha384", "sha512", "SHA256", "Sha512", "blake3", "a.b", "1sha", ""])
_tag = st.one_of(
    st.text("aZ0_.-:", min_size=0, max_size=6),
    st.builds(lambda c, n: c * n, st.sampled_from(["t", "_", "."]), st.integers(126, 130)),
)
_suffix = st.builds(
    lambda tag, digest: ("" if tag is None else ":" + tag) + ("" if digest is None else "@" + digest),
    st.none() | _tag,
    st.none() | st.builds(lambda a, h: f"{a}:{h}", _algorithm, _hex),
)
_structured = st.builds(
    lambda host, path, suffix: (f"{host}/" if host is not None else "") + path + suffix,
    st.none() | _host,
    _path,
    _suffix,
)
texts = st.one_of(_structured, _structured, _structured, st.text("aA0:/@.-_[] ", max_size=16))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=50, max_size=50))
def test_generated_references(oracle: Oracle, batch: list[str]) -> None:
    assert disagreements(oracle, batch) == []
