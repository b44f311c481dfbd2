"""The composition root: configuration in, a container of adapters and use cases out.

``container.build_container`` assembles one dishka provider per concern (``providers/``);
``activation`` says which adapters the configuration plugs in; ``cli`` is the ``fdr-whatsapp``
console script, which hands the container to the entrypoints it runs.
"""
