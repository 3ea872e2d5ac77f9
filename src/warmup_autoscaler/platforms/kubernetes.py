"""The kubernetes platform: the workers are a Deployment, scaled through its `scale` subresource.

Only this module imports the `kubernetes` client; every error it raises (ApiException, urllib3's
connection errors, ConfigException) leaves as a PlatformError that says what to check.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Self

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException, OpenApiException
from kubernetes.config import ConfigException
from pydantic_settings import SettingsConfigDict

from warmup_autoscaler.errors import PlatformError
from warmup_autoscaler.logs import get_logger
from warmup_autoscaler.platforms.base import BasePlatform, PlatformContext, TimeoutSettings

__all__ = [
    "ROLE_BINDING_NAME",
    "ROLE_NAME",
    "KubernetesPlatform",
    "KubernetesSettings",
    "load_api_client",
]

log = get_logger(__name__)

ROLE_NAME = "warmup-auto-scaler-role"  # as in k8s/auto-scaler-deployment.yaml
ROLE_BINDING_NAME = "warmup-auto-scaler-binding"


class KubernetesSettings(TimeoutSettings):
    """AUTO_SCALER_K8S_*: the workers' Deployment and its namespace."""

    model_config = SettingsConfigDict(env_prefix="AUTO_SCALER_K8S_")

    deployment_name: str = "warmup-workers"
    namespace: str = "default"


HPA_RULE = "list on horizontalpodautoscalers, API group autoscaling"
DEPLOYMENT_VAR = KubernetesSettings.env_name("deployment_name")
NAMESPACE_VAR = KubernetesSettings.env_name("namespace")


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient from the pod's ServiceAccount, else from a kubeconfig file.

    `kubeconfig` defaults to `$KUBECONFIG` (read now, not when the client library was imported),
    then `~/.kube/config`. The kubeconfig file is never written back (persist_config=False).
    """
    in_cluster = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=in_cluster)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        in_cluster_problem = str(exc)
    else:
        return client.ApiClient(configuration=in_cluster)
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    from_file = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, client_configuration=from_file, persist_config=False
        )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise PlatformError(
            "cannot load a Kubernetes configuration: not in a pod "
            f"(in-cluster: {in_cluster_problem}) and no usable kubeconfig at {path} ({exc}); "
            "run the auto-scaler in the cluster with its ServiceAccount "
            "(k8s/auto-scaler-deployment.yaml) or set KUBECONFIG to a kubeconfig file"
        ) from exc
    return client.ApiClient(configuration=from_file)


class KubernetesPlatform(BasePlatform[KubernetesSettings]):
    """Reads and sets `spec.replicas` of one Deployment's scale subresource.

    `current_workers()` is the desired count (what `scale_to` set, or someone with kubectl).
    """

    name = "kubernetes"
    settings_class = KubernetesSettings

    def __init__(
        self,
        *,
        deployment: str = "warmup-workers",
        namespace: str = "default",
        api_client: client.ApiClient | None = None,
        kubeconfig: str | None = None,
        request_timeout_s: float = 30.0,
    ) -> None:
        self.deployment = deployment
        self.namespace = namespace
        self._owns_client = api_client is None
        self._api_client = api_client if api_client is not None else load_api_client(kubeconfig)
        self._apps = client.AppsV1Api(self._api_client)
        self._autoscaling = client.AutoscalingV1Api(self._api_client)
        # A (connect, read) pair: older clients silently ignore a float given alone.
        self._timeout = (request_timeout_s, request_timeout_s)

    @classmethod
    def from_settings(cls, settings: KubernetesSettings, context: PlatformContext) -> Self:
        return cls(
            deployment=settings.deployment_name,
            namespace=settings.namespace,
            request_timeout_s=settings.timeout_s,
        )

    @property
    def host(self) -> str:
        """The API server URL this platform talks to."""
        return str(self._api_client.configuration.host)

    def close(self) -> None:
        """Release the client's connections if this platform built the client (idempotent)."""
        if self._owns_client:
            self._api_client.close()  # type: ignore[no-untyped-call]
            self._owns_client = False

    def start(self) -> None:
        """Refuse to start when a HorizontalPodAutoscaler scales the same Deployment: the two
        would fight over `spec.replicas`, each undoing the other's changes."""
        where = f"namespace '{self.namespace}'"
        with self._wrap("list the HorizontalPodAutoscalers of", where, needs=HPA_RULE):
            found = self._autoscaling.list_namespaced_horizontal_pod_autoscaler(
                self.namespace, _request_timeout=self._timeout
            )
        rivals = sorted(
            str(getattr(hpa.metadata, "name", "?"))
            for hpa in found.items or []
            if _targets(getattr(hpa.spec, "scale_target_ref", None), self.deployment)
        )
        if rivals:
            names = ", ".join(rivals)
            raise PlatformError(
                f"the HorizontalPodAutoscaler {names} in namespace '{self.namespace}' already "
                f"scales deployment '{self.deployment}': the two would fight over its replicas. "
                f"Delete it (kubectl delete hpa {rivals[0]} -n {self.namespace}) or point "
                f"{DEPLOYMENT_VAR} at another Deployment"
            )

    def current_workers(self) -> int:
        with self._wrap("read the scale of"):
            scale = self._apps.read_namespaced_deployment_scale(
                self.deployment, self.namespace, _request_timeout=self._timeout
            )
        spec = scale.spec
        return int(spec.replicas or 0) if spec is not None else 0

    def _scale_to(self, workers: int) -> None:
        with self._wrap("scale"):
            self._apps.patch_namespaced_deployment_scale(
                self.deployment,
                self.namespace,
                {"spec": {"replicas": workers}},
                _request_timeout=self._timeout,
            )
        log.info(
            "deployment_scaled",
            namespace=self.namespace,
            deployment=self.deployment,
            workers=workers,
        )

    @contextlib.contextmanager
    def _wrap(self, action: str, target: str = "", *, needs: str = "") -> Iterator[None]:
        target = target or f"deployment '{self.deployment}' in namespace '{self.namespace}'"
        needs = needs or f"get and patch on deployments/scale, resourceNames [{self.deployment}]"
        try:
            yield
        except ApiException as exc:
            raise PlatformError(self._api_problem(exc, f"{action} {target}", needs)) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise PlatformError(
                f"cannot reach the Kubernetes API server at {self.host} to {action} {target}: "
                f"{_root_cause(exc)}; check that the cluster is up and KUBECONFIG "
                "(or the pod's network) points at it"
            ) from exc
        except (OpenApiException, ConfigException) as exc:
            raise PlatformError(
                f"Kubernetes client failed to {action} {target} at {self.host}: {exc}"
            ) from exc

    def _api_problem(self, exc: ApiException, what: str, needs: str) -> str:
        status, detail = exc.status, _status_message(exc)
        if status == 403:
            return (
                f"Kubernetes API refused to {what} (403 Forbidden: {detail}); the auto-scaler's "
                f"ServiceAccount needs the Role {ROLE_NAME} ({needs}, namespace "
                f"{self.namespace}) bound to it by the RoleBinding {ROLE_BINDING_NAME}; "
                "apply k8s/auto-scaler-deployment.yaml"
            )
        if status == 404:
            return (
                f"deployment '{self.deployment}' not found in namespace '{self.namespace}' "
                f"(404 Not Found from {self.host}); create it (k8s/warmup-deployment.yaml) or set "
                f"{DEPLOYMENT_VAR} and {NAMESPACE_VAR} to the workers' Deployment"
            )
        if status == 401:
            return (
                f"Kubernetes API at {self.host} rejected the credentials (401 Unauthorized) "
                f"trying to {what}; check the ServiceAccount token or the kubeconfig user"
            )
        if not status:  # the client reports TLS failures as status 0
            return f"cannot reach the Kubernetes API server at {self.host} to {what}: {detail}"
        return f"Kubernetes API at {self.host} answered {status} trying to {what}: {detail}"


def _targets(ref: object, deployment: str) -> bool:
    """Whether an HPA's scaleTargetRef is the Deployment `deployment` (any apps API version)."""
    kind, name = getattr(ref, "kind", None), getattr(ref, "name", None)
    api_version = str(getattr(ref, "api_version", None) or "apps/v1")
    return kind == "Deployment" and name == deployment and api_version.startswith("apps/")


def _status_message(exc: ApiException) -> str:
    """The `message` of the API server's Status body, else the HTTP reason."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.strip().splitlines()[0]
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])
    return str(exc.reason or "no reason given").strip().replace("\n", ": ")


def _root_cause(exc: BaseException) -> str:
    """urllib3 nests the socket error in MaxRetryError.reason; report the innermost one."""
    reason: object = getattr(exc, "reason", None)
    while isinstance(reason, urllib3.exceptions.HTTPError) and getattr(reason, "reason", None):
        reason = getattr(reason, "reason", None)
    return str(reason or exc)
