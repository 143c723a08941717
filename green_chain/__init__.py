"""green-chain."""
