"""Adapters: the ports of the application, played by real tools (and by in-memory fakes)."""
