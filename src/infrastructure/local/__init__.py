"""Local stand-ins for our platform's services, used when one is not configured (the demo, the
sandbox, a developer's laptop) and by tests: the integration engine's connections and the ESB
kept in memory, an in-process event source, an activity publisher that logs. Each answers as the
real service does (the contract tests in ``tests/contract`` run the same cases on both)."""
