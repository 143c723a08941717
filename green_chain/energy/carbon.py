"""Carbon of energy: grid intensity (gCO2e/kWh) times a PUE factor.

``carbon_kg = energy_j / 3.6e6 [kWh] * pue * intensity_g_per_kwh / 1000``

Default intensity: **480 gCO2e/kWh**, the world-average carbon intensity of
electricity generation in 2023 reported by Ember, *Global Electricity Review
2024* (lifecycle emissions of the world's power generation divided by
generation). Set your region's figure by number; it varies from under 50
(hydro/nuclear grids) to over 700 (coal-heavy grids).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from green_chain.energy.measurement import Measurement

#: World-average grid intensity, gCO2e/kWh (Ember, Global Electricity Review 2024, year 2023).
DEFAULT_INTENSITY_G_PER_KWH = 480.0
DEFAULT_SOURCE = "Ember Global Electricity Review 2024: world average 2023, 480 gCO2e/kWh"
#: Joules per kilowatt-hour.
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class CarbonIntensity:
    """Grid carbon intensity and data-centre overhead.

    Args:
        intensity_g_per_kwh: Grams CO2-equivalent per kWh of electricity (>= 0).
        pue: Power usage effectiveness, facility energy / IT energy (>= 1.0;
            1.0 = count the device only).
        source: Where the intensity comes from (shown in reports).
    """

    intensity_g_per_kwh: float = DEFAULT_INTENSITY_G_PER_KWH
    pue: float = 1.0
    source: str = DEFAULT_SOURCE

    def __post_init__(self) -> None:
        if not math.isfinite(self.intensity_g_per_kwh) or self.intensity_g_per_kwh < 0:
            raise ValueError(
                f"grid intensity must be a finite number >= 0 gCO2e/kWh, "
                f"got {self.intensity_g_per_kwh}"
            )
        if not math.isfinite(self.pue) or self.pue < 1.0:
            raise ValueError(f"PUE must be a finite number >= 1.0, got {self.pue}")

    def carbon_kg(self, energy_j: float) -> float:
        """kgCO2e for ``energy_j`` joules at this intensity and PUE."""
        if energy_j is None or not math.isfinite(energy_j) or energy_j < 0:
            raise ValueError(f"energy_j must be a finite number >= 0 J, got {energy_j}")
        return energy_j / J_PER_KWH * self.pue * self.intensity_g_per_kwh / 1000.0

    def carbon_g(self, energy_j: float) -> float:
        """gCO2e for ``energy_j`` joules."""
        return self.carbon_kg(energy_j) * 1000.0

    def measurement_carbon_kg(self, measurement: Measurement, *, net: bool = False) -> float | None:
        """kgCO2e of a measurement (gross, or net of idle), ``None`` when it has no figure."""
        energy = measurement.net_total_j if net else measurement.total_j
        return None if energy is None else self.carbon_kg(energy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intensity_g_per_kwh": self.intensity_g_per_kwh,
            "pue": self.pue,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CarbonIntensity:
        return cls(
            intensity_g_per_kwh=float(data.get("intensity_g_per_kwh", DEFAULT_INTENSITY_G_PER_KWH)),
            pue=float(data.get("pue", 1.0)),
            source=str(data.get("source", DEFAULT_SOURCE)),
        )
