"""manifests/monitoring uses only metrics the manager exports: a manager with every controller and
leader election on the test bed is scraped, and every metric name in the PrometheusRule's alerts
and the Grafana dashboard's queries must be one of its series (a histogram's `_bucket`, `_sum` and
`_count` included). Labelled metrics with no series yet still print their `# TYPE` line."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import aiohttp
import yaml

from e2e.flows import settings
from e2e.support import MANIFESTS, eventually, running
from hack.testbed import cluster, ecr, registries
from irc.api.secrets import SecretRef
from irc.reconcilers import CONTROLLERS
from irc.runtime import LeaderElectionOptions, Manager, ManagerOptions

MONITORING = MANIFESTS / "monitoring"
# PromQL's functions, aggregations and keywords: every other identifier left in an expression (once
# label matchers, grouping labels, ranges and strings are taken out) is a metric name.
PROMQL = {
    "rate", "irate", "increase", "sum", "max", "min", "avg", "count", "histogram_quantile", "by",
    "without", "on", "ignoring", "and", "or", "unless", "bool", "absent", "topk", "bottomk", "le",
}  # fmt: skip


def expressions() -> dict[str, str]:
    """Where → PromQL, for every alert and dashboard query."""
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    found = {f"alert {r['alert']}": r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found[f"panel {panel['title']!r}"] = target["expr"]
    return found


def metric_names(expr: str) -> set[str]:
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    return {t for t in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", bare) if t not in PROMQL}


def test_the_monitoring_manifests_render_and_each_alert_says_what_it_is() -> None:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert alerts and all({"alert", "expr", "labels", "annotations"} <= r.keys() for r in alerts)
    assert all(r["labels"]["severity"] in ("info", "warning", "critical") for r in alerts)
    assert len({r["alert"] for r in alerts}) == len(alerts)
    assert all(metric_names(e) for e in expressions().values())  # each queries at least one metric
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    files = {
        *kustomization["resources"],
        *(f.split("=")[1] for f in kustomization["configMapGenerator"][0]["files"]),
    }
    assert files == {p.name for p in MONITORING.iterdir()} - {"kustomization.yaml"}


async def test_every_metric_the_alerts_and_dashboard_use_is_exported(
    kube: cluster.Cluster,
    crds: None,
    namespace: str,
    registry_bed: registries.Registries,
    ecr_server: ecr.ECR,
    tmp_path: Path,
) -> None:
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig),
        options=ManagerOptions(
            namespaces=(namespace,),
            metrics_bind_address="127.0.0.1:0",
            health_probe_bind_address="0",
            leader_election=LeaderElectionOptions(
                enabled=True, id=f"irc-{uuid.uuid4().hex[:6]}", namespace=namespace
            ),
        ),
    )
    configured = settings(registry_bed, ecr_server, SecretRef("none", namespace))
    for controller in CONTROLLERS.values():
        controller.setup(mgr, configured)
    try:
        async with running(mgr.start()), aiohttp.ClientSession() as session:

            async def scrape() -> str | None:
                server = (
                    next(s for s in mgr.http_servers if s.name == "metrics") if mgr.http_servers else None
                )
                if server is None or mgr.elector is None or not mgr.elector.is_leader:
                    return None  # the controllers' series exist once it leads
                async with session.get(f"{server.url}/metrics") as response:
                    return await response.text()

            text = await eventually(scrape, what="the manager leads and serves its metrics")
    finally:
        await mgr.client.close()
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    series = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", text, re.MULTILINE))
    exported = families | series
    for family in families:  # a histogram's and a counter's series, even before their first sample
        exported |= {f"{family}{suffix}" for suffix in ("_bucket", "_sum", "_count", "_total")}
    missing = {where: sorted(metric_names(e) - exported) for where, e in expressions().items()}
    assert not {w: m for w, m in missing.items() if m}, missing
