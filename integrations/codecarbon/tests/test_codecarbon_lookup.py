"""carbon_intensity() from CodeCarbon's bundled data files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap

import pytest
from green_chain_codecarbon import (
    UnknownRegionError,
    carbon_intensity,
    codecarbon_data_dir,
    list_cloud_regions,
    list_countries,
)

from green_chain.energy.carbon import CarbonIntensity


def _file_country(code: str) -> float:
    path = codecarbon_data_dir() / "private_infra" / "global_energy_mix.json"
    return float(json.loads(path.read_text())[code]["carbon_intensity"])


def test_country_lookup_matches_codecarbon_file() -> None:
    carbon = carbon_intensity("FRA")
    assert isinstance(carbon, CarbonIntensity)
    assert carbon.intensity_g_per_kwh == pytest.approx(_file_country("FRA"))
    assert "global_energy_mix.json" in carbon.source and "France" in carbon.source
    assert carbon.pue == 1.0
    # a low-carbon grid and a coal-heavy grid are on the right sides of the world average
    assert (
        carbon_intensity("FRA").intensity_g_per_kwh
        < 150
        < carbon_intensity("POL").intensity_g_per_kwh
    )


@pytest.mark.parametrize("code", ["fra", "FR", "France"])
def test_country_spellings(code: str) -> None:
    assert carbon_intensity(code).intensity_g_per_kwh == pytest.approx(_file_country("FRA"))


def test_cloud_region_lookup_matches_impact_csv() -> None:
    path = codecarbon_data_dir() / "cloud" / "impact.csv"
    with path.open(encoding="utf-8-sig") as handle:
        rows = {(r["provider"], r["region"]): float(r["impact"]) for r in csv.DictReader(handle)}
    carbon = carbon_intensity(cloud_provider="gcp", region="europe-west1")
    assert carbon.intensity_g_per_kwh == pytest.approx(rows[("gcp", "europe-west1")])
    assert "impact.csv" in carbon.source and "europe-west1" in carbon.source
    assert ("gcp", "europe-west1") in list_cloud_regions("gcp")


def test_usa_state_in_g_per_kwh() -> None:
    path = next(codecarbon_data_dir().glob("private_infra/*/usa_emissions.json"))
    lbs_per_mwh = float(json.loads(path.read_text())["california"]["emissions"])
    by_name = carbon_intensity("USA", region="california")
    by_code = carbon_intensity("US", region="CA")
    assert by_name.intensity_g_per_kwh == pytest.approx(lbs_per_mwh * 0.45359237)
    assert by_code.intensity_g_per_kwh == pytest.approx(by_name.intensity_g_per_kwh)


def test_explicit_number_wins_and_pue_is_carried() -> None:
    own = carbon_intensity("POL", intensity_g_per_kwh=12.5, pue=1.3)
    assert own.intensity_g_per_kwh == 12.5 and own.pue == 1.3
    assert own.source.startswith("user-supplied")
    assert carbon_intensity("DEU", pue=1.2).pue == 1.2
    # precedence: cloud region over country
    cloud = carbon_intensity("POL", cloud_provider="gcp", region="europe-west9")
    assert "europe-west9" in cloud.source


def test_carbon_of_energy_uses_looked_up_intensity() -> None:
    carbon = carbon_intensity("FRA")
    assert carbon.carbon_kg(3.6e6) == pytest.approx(_file_country("FRA") / 1000.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"country_code": "XXZ"}, "unknown country"),
        ({"country_code": "Frnace"}, "France"),
        ({"cloud_provider": "gcp", "region": "europe-west99"}, "europe-west9"),
        ({"cloud_provider": "gcp"}, "needs region"),
        ({"cloud_provider": "aws", "region": "us-east-1"}, "country_code"),
        ({"country_code": "FRA", "region": "bretagne"}, "US states only"),
        ({"country_code": "USA", "region": "atlantis"}, "unknown US state"),
        ({"region": "us-west1"}, "needs cloud_provider"),
        ({}, "give country_code"),
    ],
)
def test_unknown_or_missing_places_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UnknownRegionError, match=message):
        carbon_intensity(**kwargs)


def test_listings() -> None:
    countries = list_countries()
    assert countries["DEU"] == "Germany"
    assert len(countries) > 150


def test_offline_and_tracker_not_imported() -> None:
    script = textwrap.dedent(
        """
        import socket, sys
        def refuse(*a, **k):
            raise AssertionError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from green_chain_codecarbon import carbon_intensity
        carbon_intensity("FRA"); carbon_intensity(cloud_provider="gcp", region="us-west1")
        carbon_intensity("USA", region="TX")
        assert "codecarbon.emissions_tracker" not in sys.modules
        print("offline-ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "offline-ok" in done.stdout
