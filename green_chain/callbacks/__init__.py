"""green_chain.callbacks."""
