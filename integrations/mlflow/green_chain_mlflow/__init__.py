"""green-chain-mlflow: log a green-chain benchmark run to MLflow with one call.

    from green_chain_mlflow import log_benchmark
    run_id = log_benchmark("green-chain-results/results.json",
                           experiment="green-chain-bench", tracking_uri="file:///tmp/mlruns")

MLflow is imported only inside :func:`log_benchmark`.
"""

from green_chain_mlflow.benchmark import (
    DEFAULT_EXPERIMENT,
    benchmark_metrics,
    benchmark_params,
    benchmark_tags,
    load_results_document,
    log_benchmark,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "benchmark_metrics",
    "benchmark_params",
    "benchmark_tags",
    "load_results_document",
    "log_benchmark",
]
