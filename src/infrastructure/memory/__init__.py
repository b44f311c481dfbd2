"""In-memory adapters: honest fakes of every port for fast tests (and nothing else)."""
