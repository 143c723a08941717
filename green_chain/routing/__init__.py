"""green_chain.routing."""
