"""The steps of ``NotifyFailedDelivery``: plan, record, send, resume (docs/sending.md)."""
