"""Part of the sensor room: noticing that the mailboxes table changed, so a check runs at once.

- `names`: the watched table's name, validated and quoted;
- `trigger`: the PostgreSQL statement trigger that sends NOTIFY (installed by `db init`);
- `watcher`: the thread that LISTENs for it, or probes the table where there is no trigger;
- `reaction`: the debounced `change` checks in the daemon's event loop.

Kept free of imports here: `config` imports `names`, and the rest loads only when used.
"""

__all__: list[str] = []
