"""Decoding the events other systems send us, once, at the edge."""
