"""Energy callbacks: meter every step of a LangChain chain or agent.

Quick start::

    from green_chain.callbacks import EnergyCallbackHandler, get_energy_callback

    with get_energy_callback() as handler:
        chain.invoke({"question": "..."})
    print(handler.report().summary())

See ``docs/callbacks.md`` for the design (sync inline choice, reads outside the
lock with timeouts, fault handling, ETR definition and join rule, agents),
:mod:`green_chain.callbacks.attribution` for concurrency attribution and
:mod:`green_chain.callbacks.records` for the record fields and units.
"""

from green_chain.callbacks.context import active_energy_handlers, get_energy_callback
from green_chain.callbacks.estimators import (
    ENTRY_POINT_GROUP,
    HOSTED_PROVIDERS,
    CallEnergyEstimator,
    LLMCallInfo,
)
from green_chain.callbacks.handler import EnergyCallbackHandler
from green_chain.callbacks.lifecycle import RunStart
from green_chain.callbacks.measure import MeasuredBlock
from green_chain.callbacks.records import RunRecord
from green_chain.callbacks.report import EnergyReport

__all__ = [
    "ENTRY_POINT_GROUP",
    "HOSTED_PROVIDERS",
    "CallEnergyEstimator",
    "EnergyCallbackHandler",
    "EnergyReport",
    "LLMCallInfo",
    "MeasuredBlock",
    "RunRecord",
    "RunStart",
    "active_energy_handlers",
    "get_energy_callback",
]
