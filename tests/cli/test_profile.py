"""``green-chain profile``: argument checks, text loading, and a real local model run."""

from __future__ import annotations

import json

import pytest

from green_chain import cli
from green_chain.cli import profile as profile_cmd
from green_chain.energy.model import EnergyCurve


def test_bad_lengths_and_repeats_are_clear_errors(capsys):
    assert cli.main(["profile", "some-model", "--lengths", "64,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
    assert cli.main(["profile", "some-model", "--lengths", "64,128"]) == 2
    assert "at least 3" in capsys.readouterr().err
    assert cli.main(["profile", "some-model", "--lengths", "8,16,32", "--repeats", "0"]) == 2
    assert "--repeats must be >= 1" in capsys.readouterr().err


def test_load_text_uses_squad_or_says_it_falls_back(tmp_path, capsys):
    text, source = profile_cmd.load_text(str(tmp_path))  # empty data folder
    assert "built-in paragraph" in source and text
    assert "using a repeated built-in paragraph" in capsys.readouterr().err
    qa = tmp_path / "qa"
    qa.mkdir()
    rows = [{"context": f"Paragraph {i} about rivers."} for i in range(3)] + [
        {"context": "Paragraph 0 about rivers."}
    ]
    (qa / "squad_v1.1_dev.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    text, source = profile_cmd.load_text(str(tmp_path))
    assert text.count("Paragraph 0") == 1 and "Paragraph 2" in text and "SQuAD" in source


@pytest.mark.integration
def test_profile_real_packaged_model(tmp_path, capsys, shared_data_dir):
    pytest.importorskip("torch")
    out = tmp_path / "curve.json"
    rc = cli.main(
        [
            "profile",
            "smollm2-135m-instruct",
            "--lengths",
            "16,32,64",
            "--repeats",
            "1",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert "SQuAD" in data["text_source"]
    assert len(data["points"]) == 3 and all(p["energy_j"] >= 0 for p in data["points"])
    curve = EnergyCurve.load(out)
    assert curve.model_name and curve.n_points == 3 and curve.kind in ("measured", "estimated")
    assert min(curve.a, curve.b, curve.c) >= 0
