"""green_chain.memory."""
