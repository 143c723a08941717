"""green-chain-codecarbon: grid carbon intensity from CodeCarbon's bundled data (offline).

    from green_chain_codecarbon import carbon_intensity
    carbon = carbon_intensity("FRA")                       # country (ISO alpha-3/alpha-2/name)
    carbon = carbon_intensity(cloud_provider="gcp", region="europe-west1")
    carbon = carbon_intensity("USA", region="CA")          # US state
    EnergyCallbackHandler(carbon=carbon)

Returns :class:`green_chain.energy.carbon.CarbonIntensity`; an explicit
``intensity_g_per_kwh=`` always wins.
"""

from green_chain_codecarbon.lookup import (
    UnknownRegionError,
    carbon_intensity,
    codecarbon_data_dir,
    list_cloud_regions,
    list_countries,
    normalize_country_code,
)

codecarbon_data_dir()  # fail at import, naming the package, when codecarbon is missing

__all__ = [
    "UnknownRegionError",
    "carbon_intensity",
    "codecarbon_data_dir",
    "list_cloud_regions",
    "list_countries",
    "normalize_country_code",
]
