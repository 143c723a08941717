"""Sub-commands of the ``green-chain`` CLI: one module each, ``register`` + ``run``."""
