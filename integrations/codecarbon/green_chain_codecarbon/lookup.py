"""Grid carbon intensity (gCO2e/kWh) from CodeCarbon's bundled data files.

Read, never fetched: CodeCarbon ships its tables inside the package
(``codecarbon/data``). This module locates that folder without importing
CodeCarbon (whose import sets up its tracker machinery) and reads:

* ``data/private_infra/global_energy_mix.json`` - per country (ISO 3166-1
  alpha-3): ``carbon_intensity`` in gCO2e/kWh and the year;
* ``data/cloud/impact.csv`` - per cloud provider and region: ``impact`` in gCO2e/kWh;
* ``data/private_infra/<year>/usa_emissions.json`` - per US state, in lbs/MWh.

Precedence in :func:`carbon_intensity`: the caller's explicit
``intensity_g_per_kwh`` wins; else a cloud region; else a country's sub-national
region (US states); else the country.
"""

from __future__ import annotations

import csv
import difflib
import functools
import importlib.util
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from green_chain.energy.carbon import CarbonIntensity

#: Grams per pound / kWh per MWh: lbs/MWh -> g/kWh.
_G_PER_KWH_PER_LBS_PER_MWH = 453.59237 / 1000.0


class UnknownRegionError(ValueError):
    """A country code, cloud provider or region that CodeCarbon's data does not have."""


def codecarbon_data_dir() -> Path:
    """The ``data`` folder of the installed ``codecarbon`` package.

    Raises:
        ImportError: naming the package to install when CodeCarbon is missing.
    """
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "green_chain_codecarbon needs the 'codecarbon' package for its data files: "
            'pip install "green-chain-codecarbon" (or pip install codecarbon)'
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not data.is_dir():
        raise ImportError(f"codecarbon is installed but has no data folder at {data}")
    return data


def _codecarbon_version() -> str:
    try:
        return version("codecarbon")
    except PackageNotFoundError:  # pragma: no cover
        return "?"


@functools.cache
def country_table() -> dict[str, dict[str, Any]]:
    """ISO alpha-3 code -> CodeCarbon's energy-mix entry (``carbon_intensity`` gCO2e/kWh)."""
    path = codecarbon_data_dir() / "private_infra" / "global_energy_mix.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {code.upper(): entry for code, entry in raw.items() if isinstance(entry, dict)}


@functools.cache
def cloud_table() -> dict[tuple[str, str], dict[str, str]]:
    """(provider, region) -> row of CodeCarbon's ``cloud/impact.csv`` (``impact`` gCO2e/kWh)."""
    path = codecarbon_data_dir() / "cloud" / "impact.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {(row["provider"].lower(), row["region"].lower()): row for row in rows}


@functools.cache
def usa_state_table() -> tuple[dict[str, Any], str]:
    """State name (lower case) -> entry in lbs/MWh, and the file's source line (newest year)."""
    folders = sorted(
        (p for p in (codecarbon_data_dir() / "private_infra").iterdir() if p.name.isdigit()),
        key=lambda p: int(p.name),
    )
    for folder in reversed(folders):
        path = folder / "usa_emissions.json"
        if path.is_file():
            raw = json.loads(path.read_text(encoding="utf-8"))
            source = raw.get("_source", {})
            label = source.get("name", path.name) if isinstance(source, dict) else str(source)
            states = {k.lower(): v for k, v in raw.items() if not k.startswith("_")}
            return states, label
    return {}, "none"


def _suggest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


def normalize_country_code(code: str) -> str:
    """ISO 3166-1 alpha-3 code for an alpha-3 or alpha-2 code or a country name."""
    if not isinstance(code, str) or not code.strip():
        raise UnknownRegionError(f"country_code must be a non-empty string, got {code!r}")
    text = code.strip()
    table = country_table()
    if text.upper() in table:
        return text.upper()
    try:
        import pycountry  # a dependency of codecarbon

        found = pycountry.countries.lookup(text)
        return str(found.alpha_3)
    except (ImportError, LookupError):
        pass
    names = {e.get("country_name", ""): c for c, e in table.items()}
    raise UnknownRegionError(
        f"unknown country {code!r}: use an ISO 3166-1 alpha-3 code such as 'FRA' or 'USA'."
        + _suggest(text, list(names) + list(table))
    )


def _country(code: str, pue: float) -> CarbonIntensity:
    alpha3 = normalize_country_code(code)
    entry = country_table().get(alpha3)
    if entry is None or not isinstance(entry.get("carbon_intensity"), int | float):
        raise UnknownRegionError(
            f"CodeCarbon has no grid carbon intensity for country {alpha3!r} ({code!r})"
        )
    value = float(entry["carbon_intensity"])
    source = (
        f"CodeCarbon {_codecarbon_version()} global_energy_mix.json: "
        f"{entry.get('country_name', alpha3)} ({alpha3}) {entry.get('year', '?')}, "
        f"{value:g} gCO2e/kWh"
    )
    return CarbonIntensity(intensity_g_per_kwh=value, pue=pue, source=source)


def _cloud(provider: str, region: str | None, pue: float) -> CarbonIntensity:
    table = cloud_table()
    prov = provider.strip().lower()
    providers = sorted({p for p, _ in table})
    if prov not in providers:
        raise UnknownRegionError(
            f"CodeCarbon's cloud table has no provider {provider!r} (it has {providers}); "
            "pass country_code= for the region's country instead"
        )
    if not region:
        raise UnknownRegionError(f"cloud_provider={provider!r} needs region= (e.g. 'europe-west1')")
    row = table.get((prov, region.strip().lower()))
    if row is None:
        regions = sorted(r for p, r in table if p == prov)
        raise UnknownRegionError(
            f"unknown {prov} region {region!r}.{_suggest(region.lower(), regions)} "
            f"Known regions: {', '.join(regions)}"
        )
    value = float(row["impact"])
    where = ", ".join(x for x in (row.get("city"), row.get("country_name")) if x)
    source = (
        f"CodeCarbon {_codecarbon_version()} cloud/impact.csv: {prov} {row['region']}"
        f" ({where}), {value:g} gCO2e/kWh"
    )
    return CarbonIntensity(intensity_g_per_kwh=value, pue=pue, source=source)


def _usa_state(region: str, pue: float) -> CarbonIntensity:
    states, label = usa_state_table()
    key = region.strip().lower()
    by_code = {str(v.get("regionCode", "")).lower(): k for k, v in states.items()}
    name = key if key in states else by_code.get(key)
    if name is None:
        raise UnknownRegionError(
            f"unknown US state {region!r}: use a state name or 2-letter code."
            + _suggest(key, list(states))
        )
    value = float(states[name]["emissions"]) * _G_PER_KWH_PER_LBS_PER_MWH
    source = (
        f"CodeCarbon {_codecarbon_version()} usa_emissions.json ({label}): {name}, "
        f"{value:.1f} gCO2e/kWh"
    )
    return CarbonIntensity(intensity_g_per_kwh=value, pue=pue, source=source)


def carbon_intensity(
    country_code: str | None = None,
    cloud_provider: str | None = None,
    region: str | None = None,
    *,
    intensity_g_per_kwh: float | None = None,
    pue: float = 1.0,
) -> CarbonIntensity:
    """Grid carbon intensity for a country, a US state or a cloud region.

    Args:
        country_code: ISO 3166-1 alpha-3 (``"FRA"``), alpha-2 (``"FR"``) or a
            country name.
        cloud_provider: Cloud provider of ``region`` (CodeCarbon's table: ``gcp``).
        region: Cloud region (``"europe-west1"``) with ``cloud_provider``, or a US
            state (``"california"``/``"CA"``) with ``country_code="USA"``.
        intensity_g_per_kwh: Your own figure in gCO2e/kWh: it always wins, and no
            table is read.
        pue: Data-centre power usage effectiveness (>= 1.0) to carry along.

    Returns:
        A :class:`~green_chain.energy.carbon.CarbonIntensity` whose ``source``
        names the CodeCarbon file, the place and the year.

    Raises:
        UnknownRegionError: (a ``ValueError``) for an unknown country, provider
            or region, naming the closest known ones, or when nothing is given.
        ImportError: when ``codecarbon`` is not installed.
    """
    if intensity_g_per_kwh is not None:
        where = " ".join(str(x) for x in (country_code, cloud_provider, region) if x)
        source = "user-supplied" + (f" (for {where})" if where else "")
        return CarbonIntensity(
            intensity_g_per_kwh=float(intensity_g_per_kwh), pue=pue, source=source
        )
    if cloud_provider:
        return _cloud(cloud_provider, region, pue)
    if country_code:
        if region:
            if normalize_country_code(country_code) != "USA":
                raise UnknownRegionError(
                    f"CodeCarbon's sub-national data covers US states only; "
                    f"drop region={region!r} for country {country_code!r}"
                )
            return _usa_state(region, pue)
        return _country(country_code, pue)
    if region:
        raise UnknownRegionError(
            f"region={region!r} needs cloud_provider= (cloud region) or country_code='USA' (state)"
        )
    raise UnknownRegionError(
        "give country_code=, or cloud_provider= and region=, or your own intensity_g_per_kwh="
    )


def list_countries() -> dict[str, str]:
    """ISO alpha-3 code -> country name, for every country with an intensity."""
    return {c: str(e.get("country_name", c)) for c, e in sorted(country_table().items())}


def list_cloud_regions(provider: str | None = None) -> list[tuple[str, str]]:
    """(provider, region) pairs of CodeCarbon's cloud table, optionally for one provider."""
    return sorted(k for k in cloud_table() if provider is None or k[0] == provider.lower())
