"""green_chain.bench."""
