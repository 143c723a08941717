"""green_chain.middleware."""
