"""The steps of ``HandleCustomerReply``: bind, decide, act (docs/conversation.md)."""
