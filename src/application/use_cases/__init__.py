"""One class per thing the service does."""
