"""The language of failed-delivery notifications: entities, value objects and rules, with no I/O."""
