"""green_chain.selection."""
