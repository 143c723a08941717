"""green_chain.testing."""
