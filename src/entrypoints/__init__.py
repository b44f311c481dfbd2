"""Entrypoints: the HTTP app, the Pub/Sub worker and the CLI; thin by design."""
