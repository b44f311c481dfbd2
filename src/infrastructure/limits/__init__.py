"""Throughput limits per WhatsApp sender number, kept by the ``limits`` library."""
