"""In-memory twins of the repositories: honest fakes of the storage ports for fast use-case
tests, and nothing else (docs/adr/0005-in-memory-twins.md). Stand-ins that production may use
live in ``infrastructure.local``."""
