"""Meter backends: NVML (GPU), RAPL (CPU package/DRAM), a CPU-time estimate, and a null meter.

Each implements the two-method seam of :class:`~green_chain.energy.backends.base.MeterBackend`
(``domains`` and cumulative ``read``); fakes of each live in :mod:`green_chain.testing`.
"""
