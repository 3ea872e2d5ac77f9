"""KubernetesPlatform through the real `kubernetes` client against an in-process API server.

No real API server can run on these machines, so `FakeApiServer` implements exactly the three
endpoints the platform calls (read and patch a Deployment's scale subresource, list the
namespace's HorizontalPodAutoscalers at start) with the API server's JSON shapes and Status
errors, and checks the bearer token the kubeconfig gives.
What this covers: the client's requests, config loading from a kubeconfig file, and how every
failure becomes a PlatformError. What it does not: a real cluster's RBAC or controllers.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.platforms.base import Platform
from warmup_autoscaler.platforms.kubernetes import KubernetesPlatform, load_api_client

TOKEN = "test-token"
PATH_RE = re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/deployments/(?P<name>[^/]+)/scale$")
HPA_PATH_RE = re.compile(
    r"^/apis/autoscaling/v1/namespaces/(?P<ns>[^/]+)/horizontalpodautoscalers$"
)
PATCH_TYPES = ("application/strategic-merge-patch+json", "application/merge-patch+json")


@dataclass
class Deployment:
    replicas: int


@dataclass
class Hpa:
    """A HorizontalPodAutoscaler: its scaleTargetRef's kind and name."""

    kind: str
    target: str


@dataclass
class ApiState:
    deployments: dict[tuple[str, str], Deployment] = field(default_factory=dict)
    hpas: dict[tuple[str, str], Hpa] = field(default_factory=dict)  # (namespace, name)
    forbidden: bool = False
    hang: threading.Event | None = None  # set: requests block until the event is set
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # +patch type


def status_body(code: int, reason: str, message: str) -> dict[str, object]:
    """A `Status` object as the API server returns it for a failed request."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class Handler(BaseHTTPRequestHandler):
    server: FakeApiServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        patch_type = self.headers.get("Content-Type") if method == "PATCH" else None
        state.requests.append((method, self.path.split("?")[0], patch_type))
        if state.hang is not None:
            state.hang.wait()
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
        hpa_list = HPA_PATH_RE.match(self.path.split("?")[0])
        if hpa_list is not None and method == "GET":
            return self._list_hpas(hpa_list["ns"])
        match = PATH_RE.match(self.path.split("?")[0])
        if match is None:
            return self._send(404, status_body(404, "NotFound", "the server could not find it"))
        ns, name = match["ns"], match["name"]
        resource = "deployments/scale"
        if state.forbidden:
            verb = "patch" if method == "PATCH" else "get"
            return self._send(
                403,
                status_body(
                    403,
                    "Forbidden",
                    f'deployments.apps "{name}" is forbidden: User '
                    f'"system:serviceaccount:{ns}:warmup-auto-scaler" cannot {verb} resource '
                    f'"{resource}" in API group "apps" in the namespace "{ns}"',
                ),
            )
        deployment = state.deployments.get((ns, name))
        if deployment is None:
            return self._send(
                404, status_body(404, "NotFound", f'deployments.apps "{name}" not found')
            )
        if method == "PATCH":
            if self.headers.get("Content-Type") not in PATCH_TYPES:
                return self._send(415, status_body(415, "UnsupportedMediaType", "bad patch type"))
            patch = json.loads(raw)
            if set(patch) != {"spec"} or set(patch["spec"]) != {"replicas"}:
                return self._send(422, status_body(422, "Invalid", f"unexpected patch {patch}"))
            deployment.replicas = patch["spec"]["replicas"]
        meta = {"name": name, "namespace": ns, "resourceVersion": "1"}
        body: dict[str, object] = {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": meta,
            "spec": {"replicas": deployment.replicas},
            "status": {"replicas": deployment.replicas, "selector": "app=warmup-worker"},
        }
        self._send(200, body)

    def _list_hpas(self, ns: str) -> None:
        """GET .../horizontalpodautoscalers: an autoscaling/v1 HorizontalPodAutoscalerList."""
        state = self.server.state
        if state.forbidden:
            return self._send(
                403,
                status_body(
                    403,
                    "Forbidden",
                    f'horizontalpodautoscalers.autoscaling is forbidden: User "system:serviceaccount:'
                    f'{ns}:warmup-auto-scaler" cannot list resource "horizontalpodautoscalers" in '
                    f'API group "autoscaling" in the namespace "{ns}"',
                ),
            )
        items = [
            {
                "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": hpa.kind,
                        "name": hpa.target,
                    },
                    "minReplicas": 1,
                    "maxReplicas": 10,
                    "targetCPUUtilizationPercentage": 80,
                },
                "status": {"currentReplicas": 1, "desiredReplicas": 1},
            }
            for (hpa_ns, name), hpa in sorted(state.hpas.items())
            if hpa_ns == ns
        ]
        self._send(
            200,
            {
                "kind": "HorizontalPodAutoscalerList",
                "apiVersion": "autoscaling/v1",
                "metadata": {"resourceVersion": "1"},
                "items": items,
            },
        )

    def _send(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = ApiState()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client that timed out has closed its socket; report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def api_server() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    if server.state.hang is not None:
        server.state.hang.set()
    server.shutdown()
    server.server_close()
    thread.join()


def write_kubeconfig(path: Path, server_url: str, *, token: str = TOKEN) -> Path:
    """A kubeconfig with one context pointing at `server_url` with a bearer token."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server_url}}],
                "users": [{"name": "tester", "user": {"token": token}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
                "current-context": "fake",
            }
        )
    )
    return path


@pytest.fixture
def kubeconfig(api_server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG points at the fake server; not in a pod, so in-cluster config must fail."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = write_kubeconfig(tmp_path / "kubeconfig", api_server.url)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def platform(api_server: FakeApiServer, kubeconfig: Path) -> Iterator[KubernetesPlatform]:
    api_server.state.deployments[("default", "warmup-workers")] = Deployment(replicas=1)
    plat = KubernetesPlatform()
    yield plat
    plat.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_satisfies_the_platform_protocol(platform: KubernetesPlatform) -> None:
    """The platform is a Platform named kubernetes, built from $KUBECONFIG's server."""
    assert isinstance(platform, Platform)
    assert platform.name == "kubernetes"
    assert platform.host == platform._api_client.configuration.host
    assert platform.host.startswith("http://127.0.0.1:")


def test_reads_replicas_from_the_scale_subresource(
    platform: KubernetesPlatform, api_server: FakeApiServer
) -> None:
    """current_workers() is spec.replicas of GET .../deployments/warmup-workers/scale."""
    api_server.state.deployments[("default", "warmup-workers")].replicas = 4
    assert platform.current_workers() == 4
    assert api_server.state.requests == [
        ("GET", "/apis/apps/v1/namespaces/default/deployments/warmup-workers/scale", None)
    ]


def test_scales_one_to_three_to_one(
    platform: KubernetesPlatform, api_server: FakeApiServer
) -> None:
    """scale_to patches the scale subresource; the server's state follows 1 -> 3 -> 1."""
    deployment = api_server.state.deployments[("default", "warmup-workers")]
    assert platform.current_workers() == 1
    platform.scale_to(3)
    assert deployment.replicas == 3
    assert platform.current_workers() == 3
    platform.scale_to(1)
    assert deployment.replicas == 1
    assert platform.current_workers() == 1
    patches = [r for r in api_server.state.requests if r[0] == "PATCH"]
    scale_path = "/apis/apps/v1/namespaces/default/deployments/warmup-workers/scale"
    assert [(method, path) for method, path, _ in patches] == [("PATCH", scale_path)] * 2
    assert all(ctype in PATCH_TYPES for _, _, ctype in patches)


def test_scale_to_zero_and_negative(
    platform: KubernetesPlatform, api_server: FakeApiServer
) -> None:
    """Zero is a valid count; a negative one is refused before any request."""
    platform.scale_to(0)
    assert platform.current_workers() == 0
    before = len(api_server.state.requests)
    with pytest.raises(PlatformError, match="must be 0 or more"):
        platform.scale_to(-1)
    assert len(api_server.state.requests) == before


def test_uses_the_configured_deployment_and_namespace(
    api_server: FakeApiServer, kubeconfig: Path
) -> None:
    """The deployment name and namespace go into the request path."""
    api_server.state.deployments[("mail", "senders")] = Deployment(replicas=2)
    plat = KubernetesPlatform(deployment="senders", namespace="mail")
    try:
        plat.scale_to(5)
        assert plat.current_workers() == 5
    finally:
        plat.close()
    assert {path for _, path, _ in api_server.state.requests} == {
        "/apis/apps/v1/namespaces/mail/deployments/senders/scale"
    }


def test_forbidden_names_the_role_and_binding(
    platform: KubernetesPlatform, api_server: FakeApiServer
) -> None:
    """A 403 says which Role and RoleBinding grant which verbs on which resources."""
    api_server.state.forbidden = True
    for call in (platform.current_workers, lambda: platform.scale_to(2)):
        with pytest.raises(PlatformError) as caught:
            call()
        message = caught.value.message
        assert "403" in message
        assert "warmup-auto-scaler-role" in message
        assert "warmup-auto-scaler-binding" in message
        assert "get and patch on deployments/scale, resourceNames" in message
        assert "resourceNames [warmup-workers]" in message
        assert '"system:serviceaccount:default:warmup-auto-scaler" cannot' in message
        cause = caught.value.__cause__
        assert isinstance(cause, ApiException) and cause.status == 403


def test_missing_deployment_names_deployment_and_namespace(
    api_server: FakeApiServer, kubeconfig: Path
) -> None:
    """A 404 names the deployment, the namespace and the variables that choose them."""
    plat = KubernetesPlatform(deployment="nope", namespace="mail")
    try:
        for call in (plat.current_workers, lambda: plat.scale_to(2)):
            with pytest.raises(PlatformError) as caught:
                call()
            message = caught.value.message
            assert "deployment 'nope' not found in namespace 'mail'" in message
            assert "AUTO_SCALER_K8S_DEPLOYMENT_NAME" in message
            assert "AUTO_SCALER_K8S_NAMESPACE" in message
            assert caught.value.__cause__ is not None
    finally:
        plat.close()


def test_rejected_token_is_a_platform_error(
    api_server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 401 says the credentials were rejected (the kubeconfig's token is what is sent)."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    api_server.state.deployments[("default", "warmup-workers")] = Deployment(replicas=1)
    path = write_kubeconfig(tmp_path / "kc", api_server.url, token="wrong")
    plat = KubernetesPlatform(kubeconfig=str(path))
    try:
        with pytest.raises(PlatformError, match=r"rejected the credentials \(401"):
            plat.current_workers()
    finally:
        plat.close()


def test_server_down_names_the_api_server_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused becomes a PlatformError naming the API server URL."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", url)))
    plat = KubernetesPlatform()
    try:
        for call in (plat.current_workers, lambda: plat.scale_to(2)):
            with pytest.raises(PlatformError) as caught:
                call()
            message = caught.value.message
            assert f"cannot reach the Kubernetes API server at {url}" in message
            assert "Connection refused" in message
            assert caught.value.__cause__ is not None
    finally:
        plat.close()


def test_hanging_server_times_out(api_server: FakeApiServer, kubeconfig: Path) -> None:
    """A server that never answers gives a PlatformError after the request timeout."""
    api_server.state.hang = threading.Event()
    plat = KubernetesPlatform(request_timeout_s=0.2)
    try:
        with pytest.raises(PlatformError, match="cannot reach the Kubernetes API server at"):
            plat.scale_to(2)
    finally:
        api_server.state.hang.set()
        plat.close()


def test_no_configuration_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a pod with no kubeconfig, the error names both ways to configure the client."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = tmp_path / "missing-kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(missing))
    with pytest.raises(PlatformError) as caught:
        KubernetesPlatform()
    message = caught.value.message
    assert "not in a pod" in message and "Service host/port is not set" in message
    assert str(missing) in message
    assert "set KUBECONFIG" in message
    assert type(caught.value.__cause__).__name__ == "ConfigException"


def test_broken_kubeconfig_is_a_platform_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kubeconfig without a current context is reported, not raised as ConfigException."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = tmp_path / "kc"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": []}))
    with pytest.raises(PlatformError, match="no usable kubeconfig"):
        load_api_client(str(path))


def test_accepts_a_prebuilt_api_client(api_server: FakeApiServer) -> None:
    """A caller-built ApiClient is used as is and not closed by close()."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = api_server.url
    api_server.state.deployments[("default", "warmup-workers")] = Deployment(replicas=2)
    api_client = client.ApiClient(
        configuration=configuration, header_name="Authorization", header_value=f"Bearer {TOKEN}"
    )
    plat = KubernetesPlatform(api_client=api_client)
    assert plat.current_workers() == 2
    plat.close()
    assert plat.current_workers() == 2
    api_client.close()  # type: ignore[no-untyped-call]


HPA_LIST = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"


def test_start_passes_without_a_rival_autoscaler(
    platform: KubernetesPlatform, api_server: FakeApiServer
) -> None:
    """start() lists the namespace's HPAs; ones that scale other things do not stop it."""
    api_server.state.hpas[("default", "web")] = Hpa(kind="Deployment", target="web-frontend")
    api_server.state.hpas[("default", "same-name-other-kind")] = Hpa(
        kind="StatefulSet", target="warmup-workers"
    )
    api_server.state.hpas[("mail", "elsewhere")] = Hpa(kind="Deployment", target="warmup-workers")
    platform.start()
    assert api_server.state.requests == [("GET", HPA_LIST, None)]


def test_start_refuses_an_hpa_on_the_same_deployment(
    platform: KubernetesPlatform, api_server: FakeApiServer
) -> None:
    """An HPA targeting the workers' Deployment stops start() with its name and what to do."""
    api_server.state.hpas[("default", "workers-cpu")] = Hpa(
        kind="Deployment", target="warmup-workers"
    )
    with pytest.raises(PlatformError) as caught:
        platform.start()
    assert caught.value.message == (
        "the HorizontalPodAutoscaler workers-cpu in namespace 'default' already scales deployment "
        "'warmup-workers': the two would fight over its replicas. Delete it (kubectl delete hpa "
        "workers-cpu -n default) or point AUTO_SCALER_K8S_DEPLOYMENT_NAME at another Deployment"
    )


def test_start_without_permission_to_list_hpas_names_the_rule(
    platform: KubernetesPlatform, api_server: FakeApiServer
) -> None:
    """A 403 on the HPA list says which rule the Role needs (an old manifest lacks it)."""
    api_server.state.forbidden = True
    with pytest.raises(PlatformError) as caught:
        platform.start()
    message = caught.value.message
    assert message.startswith(
        "Kubernetes API refused to list the HorizontalPodAutoscalers of namespace 'default' "
        "(403 Forbidden: "
    )
    assert (
        "needs the Role warmup-auto-scaler-role (list on horizontalpodautoscalers, API group "
        "autoscaling, namespace default)" in message
    )
