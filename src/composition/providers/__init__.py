"""One dishka provider per concern; ``composition.container`` puts them together."""
