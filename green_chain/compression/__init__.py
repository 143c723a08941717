"""green_chain.compression."""
