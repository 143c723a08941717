"""green-chain-ecologits: energy estimates for hosted chat-model calls with EcoLogits.

:class:`EcoLogitsEstimator` implements green-chain's ``CallEnergyEstimator``
protocol and is registered under the entry-point group
``green_chain.call_estimators``: installing this package is enough for
``EnergyCallbackHandler(estimators="auto")`` to estimate OpenAI, Anthropic,
Mistral, Cohere and Google calls (domain ``api:<provider>``, source
``estimate:ecologits``, kind ``estimated``, with the min-max range).
"""

from green_chain_ecologits.estimator import (
    PROVIDER_ALIASES,
    SOURCE,
    EcoLogitsEstimate,
    EcoLogitsEstimator,
)

__all__ = ["PROVIDER_ALIASES", "SOURCE", "EcoLogitsEstimate", "EcoLogitsEstimator"]
