"""green-chain-otel: energy-handler runs as OpenTelemetry spans and metrics.

    from green_chain.callbacks import EnergyCallbackHandler
    from green_chain_otel import OTelExporter

    handler = EnergyCallbackHandler(sink=OTelExporter())

Spans carry GenAI semantic-convention attributes (``gen_ai.request.model``,
``gen_ai.usage.input_tokens``, ...) and ``green_chain.*`` energy attributes
(``green_chain.energy_j``, ``.energy_source``, ``.energy_kind``, ``.etr``,
``.per``, ``.carbon_g``).
"""

__version__ = "0.1.0"

from green_chain_otel.attributes import metric_attributes, span_attributes, span_name
from green_chain_otel.exporter import OTelExporter

__all__ = ["OTelExporter", "__version__", "metric_attributes", "span_attributes", "span_name"]
