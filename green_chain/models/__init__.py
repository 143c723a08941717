"""green_chain.models."""
