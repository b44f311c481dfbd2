"""Meta's WhatsApp Cloud API: the send and template-list adapters, and the demo sandbox."""
