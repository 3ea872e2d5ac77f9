"""warmup-autoscaler: scales warmup workers to the number of active mailboxes in SQL.

The loop: `sensor` counts mailboxes -> `policy` decides -> `platforms` act, with `store` keeping
state and the journal, and `controller` running one check at a time.
"""

from warmup_autoscaler.errors import (
    AutoscalerError,
    ConfigError,
    CountError,
    PlatformError,
    StoreError,
)
from warmup_autoscaler.policy import Action, Decision, PolicyConfig, decide, optimal_workers

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AutoscalerError",
    "ConfigError",
    "CountError",
    "Decision",
    "PlatformError",
    "PolicyConfig",
    "StoreError",
    "__version__",
    "decide",
    "optimal_workers",
]
