"""green_chain.energy.backends."""
