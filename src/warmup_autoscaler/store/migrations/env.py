"""Alembic environment: runs only on the connection `migrate.upgrade` hands over.

The version table is `autoscaler_alembic_version`, so the user's own `alembic_version` (if their
application uses Alembic on the same database) is never touched.
"""

from __future__ import annotations

from alembic import context

from warmup_autoscaler.store.migrate import VERSION_TABLE
from warmup_autoscaler.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run the auto-scaler's migrations with `warmup-autoscaler db init` "
        "(warmup_autoscaler.store.migrate.upgrade), not with the alembic command"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite can only ALTER tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
