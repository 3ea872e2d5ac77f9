"""Part of the sensor room: noticing that the mailboxes table changed, so a check runs at once.

- `trigger`: the PostgreSQL statement trigger that sends NOTIFY (installed by `db init`);
- `watcher`: the thread that LISTENs for it, or probes the table where there is no trigger;
- `reaction`: the debounced `change` checks in the daemon's event loop.

The watched table's name is a setting, parsed and quoted in `config.table_name`.
"""

__all__: list[str] = []
