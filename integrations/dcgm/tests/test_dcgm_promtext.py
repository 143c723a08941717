"""The Prometheus text-format parser used for dcgm-exporter and vLLM payloads."""

from __future__ import annotations

import math

import pytest
from dcgm_testserver import payload
from green_chain_dcgm.promtext import PromTextError, iter_samples, parse_line, samples_named


def test_parses_labels_values_and_skips_comments() -> None:
    text = (
        "# HELP x A help line.\n"
        "# TYPE x counter\n"
        '\nx{gpu="0",Hostname="node-a"} 12.5 1700000000000\n'
        "y 3\n"
    )
    samples = list(iter_samples(text))
    assert [(s.name, dict(s.labels), s.value) for s in samples] == [
        ("x", {"gpu": "0", "Hostname": "node-a"}, 12.5),
        ("y", {}, 3.0),
    ]


def test_label_escapes_and_special_values() -> None:
    sample = parse_line(r'm{path="C:\\dir",msg="say \"hi\"\nbye",} +Inf')
    assert sample is not None
    assert sample.labels == {"path": "C:\\dir", "msg": 'say "hi"\nbye'}
    assert sample.value == math.inf
    nan = parse_line("m NaN")
    assert nan is not None and math.isnan(nan.value)
    assert parse_line("m -Inf") is not None


def test_colons_in_metric_names() -> None:
    samples = samples_named(payload("vllm_t0.txt"), "vllm:prompt_tokens_total")
    assert len(samples) == 2
    assert samples[0].labels["model_name"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert samples[0].value == 183_204


def test_exporter_payload_has_energy_for_each_gpu() -> None:
    energy = samples_named(payload("dcgm_node1_t0.txt"), "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
    assert [(s.labels["gpu"], s.value) for s in energy] == [("0", 123456789.0), ("1", 98765432.0)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('m{gpu="0"', "unterminated"),
        ("m{gpu=0} 1", 'expected ="'),
        ('m{1gpu="0"} 1', "bad label name"),
        ("m", "has no value"),
        ("m twelve", "not a sample value"),
        ('{gpu="0"} 1', "no metric name"),
    ],
)
def test_bad_lines_name_the_problem(line: str, message: str) -> None:
    with pytest.raises(PromTextError, match=message):
        list(iter_samples("ok 1\n" + line))
