"""The Kubernetes manifests in k8s/: valid against Kubernetes' own schemas, strictly and offline
(kubernetes-validate bundles them; no API server runs here), and consistent with the seed's names,
the platform's least privilege and the worker's drain time."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from warmup_autoscaler.config import Settings, all_env_names, load_settings
from warmup_autoscaler.errors import ConfigError
from warmup_autoscaler.platforms.kubernetes import KubernetesSettings

K8S_DIR = Path(__file__).resolve().parents[2] / "k8s"
FILES = ("auto-scaler-deployment.yaml", "warmup-deployment.yaml")
K8S_VERSION = kubernetes_validate.latest_version()
NAMESPACE = "default"
DRAIN_TIMEOUT_S = 25.0  # AUTO_SCALER_WORKER_DRAIN_TIMEOUT_MS's default


def load(name: str) -> list[dict[str, Any]]:
    """The non-empty documents of one manifest file."""
    return [doc for doc in yaml.safe_load_all((K8S_DIR / name).read_text()) if doc]


DOCUMENTS = [(name, doc) for name in FILES for doc in load(name)]


def one(kind: str, name: str) -> dict[str, Any]:
    """The only document of `kind` named `name` across both files."""
    found = [d for _, d in DOCUMENTS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


@pytest.mark.parametrize(
    "doc",
    [d for _, d in DOCUMENTS],
    ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in DOCUMENTS],
)
def test_document_is_valid_kubernetes_strictly(doc: dict[str, Any]) -> None:
    """Each document validates against the bundled schema, unknown fields rejected."""
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The strict check is real: a misspelt field in a container fails it."""
    doc = copy.deepcopy(one("Deployment", "warmup-workers"))
    container(doc)["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_files_hold_the_expected_objects() -> None:
    """auto-scaler-deployment.yaml holds RBAC, config and the daemon; the other the workers."""
    kinds = {name: [(d["kind"], d["metadata"]["name"]) for d in load(name)] for name in FILES}
    assert kinds == {
        "auto-scaler-deployment.yaml": [
            ("ServiceAccount", "warmup-auto-scaler"),
            ("Role", "warmup-auto-scaler-role"),
            ("RoleBinding", "warmup-auto-scaler-binding"),
            ("ConfigMap", "warmup-auto-scaler-config"),
            ("Secret", "warmup-auto-scaler-secrets"),
            ("Deployment", "warmup-auto-scaler"),
            ("PodDisruptionBudget", "warmup-auto-scaler"),
            ("Service", "warmup-auto-scaler"),
        ],
        "warmup-deployment.yaml": [
            ("Secret", "warmup-workers-secrets"),
            ("Deployment", "warmup-workers"),
        ],
    }
    assert {d["metadata"]["namespace"] for _, d in DOCUMENTS} == {NAMESPACE}


def test_role_grants_exactly_the_platforms_calls() -> None:
    """The Role allows get/patch on the workers' scale subresource and listing the namespace's
    HorizontalPodAutoscalers (the start-up check), nothing more."""
    role = one("Role", "warmup-auto-scaler-role")
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale"],
            "resourceNames": ["warmup-workers"],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": ["list"],
        },
    ]


def test_binding_ties_the_role_to_the_auto_scalers_service_account() -> None:
    """The RoleBinding binds the Role to the ServiceAccount the auto-scaler pod runs as."""
    binding = one("RoleBinding", "warmup-auto-scaler-binding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "warmup-auto-scaler-role",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "warmup-auto-scaler", "namespace": NAMESPACE}
    ]
    pod = one("Deployment", "warmup-auto-scaler")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "warmup-auto-scaler"
    one("ServiceAccount", "warmup-auto-scaler")


def test_config_points_the_platform_at_the_workers_deployment() -> None:
    """The ConfigMap selects the kubernetes platform and names warmup-workers in its namespace."""
    data = one("ConfigMap", "warmup-auto-scaler-config")["data"]
    assert data["AUTO_SCALER_PLATFORM"] == "kubernetes"
    assert data["AUTO_SCALER_API_HOST"] == "0.0.0.0"
    assert data["AUTO_SCALER_API_PORT"] == "3001"
    workers = one("Deployment", "warmup-workers")["metadata"]
    assert data["AUTO_SCALER_K8S_DEPLOYMENT_NAME"] == workers["name"]
    assert data["AUTO_SCALER_K8S_NAMESPACE"] == workers["namespace"]


def shipped_settings(monkeypatch: pytest.MonkeyPatch, secret: str, **changes: str) -> Settings:
    """The settings a pod gets from the ConfigMap and `secret`, as shipped plus `changes`."""
    known = set(all_env_names())
    data = one("ConfigMap", "warmup-auto-scaler-config")["data"]
    values = {**data, **one("Secret", secret)["stringData"], **changes}
    assert set(values) <= known, f"unknown variables: {sorted(set(values) - known)}"
    assert all(isinstance(v, str) for v in values.values()), "ConfigMap values must be strings"
    for key in known:
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return load_settings(None)


def test_config_and_secret_keys_are_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ConfigMap and Secret key is a setting's variable, and each value parses (once the
    admin token placeholder is replaced)."""
    secret = one("Secret", "warmup-auto-scaler-secrets")
    assert set(secret["stringData"]) == {"DATABASE_URL", "AUTO_SCALER_ADMIN_TOKEN"}
    assert secret["type"] == "Opaque"
    token = "0123456789abcdef0123456789abcdef"
    settings = shipped_settings(
        monkeypatch, "warmup-auto-scaler-secrets", AUTO_SCALER_ADMIN_TOKEN=token
    )
    assert isinstance(settings.platform, KubernetesSettings)
    assert settings.platform.deployment_name == "warmup-workers"
    assert settings.worker.drain_timeout_ms == DRAIN_TIMEOUT_S * 1000


def test_the_shipped_secret_applied_unchanged_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Applied as shipped, the auto-scaler's settings fail with one line naming the token."""
    with pytest.raises(ConfigError) as info:
        shipped_settings(monkeypatch, "warmup-auto-scaler-secrets")
    assert info.value.problems == [
        "AUTO_SCALER_ADMIN_TOKEN=********: is a placeholder from an example, not a secret: set a "
        "random token of at least 16 characters (e.g. `openssl rand -hex 32`), or unset it to "
        "disable the admin endpoints"
    ]


def test_the_workers_get_a_secret_without_the_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers' Secret holds the database URL only, and the workers' pods use it alone."""
    assert set(one("Secret", "warmup-workers-secrets")["stringData"]) == {"DATABASE_URL"}
    refs = [
        r for r in container(one("Deployment", "warmup-workers"))["envFrom"] if "secretRef" in r
    ]
    assert refs == [{"secretRef": {"name": "warmup-workers-secrets"}}]
    assert shipped_settings(monkeypatch, "warmup-workers-secrets").api.admin_token is None


def test_secret_holds_placeholders_and_says_to_replace_them() -> None:
    """Both Secrets ship placeholders only, under a comment telling to replace them."""
    for name, file in (
        ("warmup-auto-scaler-secrets", "auto-scaler-deployment.yaml"),
        ("warmup-workers-secrets", "warmup-deployment.yaml"),
    ):
        secret = one("Secret", name)
        assert all("CHANGE-ME" in value for value in secret["stringData"].values())
        text = (K8S_DIR / file).read_text()
        comment = text[: text.index(f"name: {name}")].rsplit("---", 1)[1]
        assert "REPLACE TH" in comment and "PLACEHOLDER VALUE" in comment


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("warmup-auto-scaler", "warmup-autoscaler:latest"),
        ("warmup-workers", "warmup-autoscaler-worker:latest"),
    ],
)
def test_deployments_run_their_image_as_non_root(name: str, image: str) -> None:
    """Each Deployment runs its local image (auto-scaler or worker), non-root, read-only root."""
    deployment = one("Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    assert c["image"] == image
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"configMapRef": {"name": "warmup-auto-scaler-config"}} in c["envFrom"]
    secret = (
        "warmup-auto-scaler-secrets" if name == "warmup-auto-scaler" else "warmup-workers-secrets"
    )
    assert {"secretRef": {"name": secret}} in c["envFrom"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_auto_scaler_deployment_matches_the_seed() -> None:
    """Two replicas of `warmup-autoscaler run` (they elect a leader) replaced one at a time, probes
    on /healthz:3001 (200 on a standby too), the seed's resources."""
    deployment = one("Deployment", "warmup-auto-scaler")
    c = container(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert c["command"] == ["warmup-autoscaler", "run"]
    assert c["ports"] == [{"name": "http", "containerPort": 3001, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "100m", "memory": "256Mi"},
    }


def test_a_disruption_leaves_one_auto_scaler() -> None:
    """The PodDisruptionBudget keeps one auto-scaler pod through a node drain, and the pods prefer
    different nodes."""
    budget = one("PodDisruptionBudget", "warmup-auto-scaler")
    deployment = one("Deployment", "warmup-auto-scaler")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    [preferred] = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_service_exposes_the_api_port() -> None:
    """The Service sends port 3001 to the auto-scaler pod's http port."""
    service = one("Service", "warmup-auto-scaler")
    labels = one("Deployment", "warmup-auto-scaler")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 3001, "targetPort": "http", "protocol": "TCP"}
    ]


def test_workers_get_time_to_drain() -> None:
    """Workers run `warmup-autoscaler worker`, with a grace period longer than the drain."""
    deployment = one("Deployment", "warmup-workers")
    pod = deployment["spec"]["template"]["spec"]
    assert container(deployment)["command"] == ["warmup-autoscaler", "worker"]
    assert pod["terminationGracePeriodSeconds"] > DRAIN_TIMEOUT_S
    drain_ms = int(
        one("ConfigMap", "warmup-auto-scaler-config")["data"].get(
            "AUTO_SCALER_WORKER_DRAIN_TIMEOUT_MS", DRAIN_TIMEOUT_S * 1000
        )
    )
    assert pod["terminationGracePeriodSeconds"] > drain_ms / 1000
    assert pod["automountServiceAccountToken"] is False


def test_workers_deployment_leaves_the_count_to_the_auto_scaler() -> None:
    """No spec.replicas in the workers' manifest, so re-applying it never resets the fleet."""
    assert "replicas" not in one("Deployment", "warmup-workers")["spec"]


def test_workers_have_a_liveness_probe_on_their_heartbeat() -> None:
    """The workers' startup and liveness probes run `worker-alive` on the heartbeat file, which
    the worker writes in its writable /tmp."""
    deployment = one("Deployment", "warmup-workers")
    c = container(deployment)
    env = {e["name"]: e.get("value") for e in c["env"]}
    beat = env["AUTO_SCALER_WORKER_HEARTBEAT_FILE"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert any(beat.startswith(f"{m}/") for m in mounts), "the heartbeat file must be writable"
    for probe in ("startupProbe", "livenessProbe"):
        assert c[probe]["exec"]["command"] == ["warmup-autoscaler", "worker-alive"]
    # A restart comes only after the worker has been silent longer than its leases last.
    live = c["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= 30
