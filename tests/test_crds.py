"""The CRDs: generated from irc/api, committed under manifests/crds/ in sync, and well formed."""

from __future__ import annotations

from pathlib import Path

import yaml

from irc.api import API_VERSION, KINDS
from irc.api.conditions import get_condition, set_condition
from irc.cli import write_crds

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests" / "crds"


def test_committed_crds_match_the_schemas(tmp_path: Path) -> None:
    write_crds(tmp_path)
    generated = {p.name: p.read_text() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text() for p in MANIFESTS.iterdir()}
    assert committed == generated, "run `make manifests` and commit manifests/crds/"


def test_every_kind_has_status_subresource_conditions_and_columns() -> None:
    for kind in KINDS:
        crd = kind.crd()
        assert crd["metadata"]["name"] == f"{kind.plural}.{API_VERSION.split('/')[0]}"
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        assert {"conditions", "observedGeneration"} <= set(status)
        assert any(c["name"] == "Age" for c in version["additionalPrinterColumns"])
        yaml.safe_load(yaml.safe_dump(crd))  # serialisable as the manifests are


def test_condition_transition_time_moves_only_when_status_changes() -> None:
    status: dict[str, object] = {}
    assert set_condition(status, "Ready", "False", "Copying", "1/3 layers", observed_generation=1, now=0)
    first = dict(get_condition(status, "Ready") or {})
    assert set_condition(status, "Ready", "False", "Copying", "2/3 layers", observed_generation=1, now=60)
    assert (get_condition(status, "Ready") or {})["lastTransitionTime"] == first["lastTransitionTime"]
    assert not set_condition(status, "Ready", "False", "Copying", "2/3 layers", observed_generation=1, now=90)
    assert set_condition(status, "Ready", "True", "Copied", "done", observed_generation=1, now=120)
    ready = get_condition(status, "Ready") or {}
    assert ready["lastTransitionTime"] == "1970-01-01T00:02:00Z" and ready["reason"] == "Copied"
    assert len(status["conditions"]) == 1  # type: ignore[arg-type]
