"""The steps of ``ProcessWebhooks``: the bodies of a pass and how a pass ends."""
