"""green_chain.benchmarks."""
