"""green-chain-dcgm: remote GPU energy from NVIDIA dcgm-exporter / Prometheus, vLLM token counters.

* :class:`DCGMMeter` - a :class:`green_chain.energy.backends.base.MeterBackend`
  reading ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` per GPU (domains
  ``remote-gpu:<host>:<gpu>``, source ``dcgm``, kind ``measured``).
* :class:`VLLMMetrics` - token deltas from a vLLM server's ``/metrics``.

Only the standard library is used to talk to the endpoints.
"""

from green_chain_dcgm.http import EndpointError
from green_chain_dcgm.meter import (
    DCGM_ENERGY_METRIC,
    DCGM_POWER_METRIC,
    DEFAULT_UPDATE_PERIOD_S,
    DCGMMeter,
    GPUSample,
)
from green_chain_dcgm.promtext import PromTextError, Sample, iter_samples
from green_chain_dcgm.vllm import VLLMMetrics, VLLMTokenCounts, VLLMTokenDelta

__all__ = [
    "DCGM_ENERGY_METRIC",
    "DCGM_POWER_METRIC",
    "DEFAULT_UPDATE_PERIOD_S",
    "DCGMMeter",
    "EndpointError",
    "GPUSample",
    "PromTextError",
    "Sample",
    "VLLMMetrics",
    "VLLMTokenCounts",
    "VLLMTokenDelta",
    "iter_samples",
]
