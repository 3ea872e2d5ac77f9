"""The warmup job: mailbox accounts (encrypted passwords), the daily ramp and sending window,
partners and templates, SMTP sends and IMAP engagement, all fenced by the worker's leases, and
the deliverability figures. `AUTO_SCALER_WORKER_JOB=warmup` runs it; see docs/warmup.md."""

__all__: list[str] = []
