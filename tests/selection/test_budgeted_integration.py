"""BudgetedExampleSelector with the packaged MiniLM embeddings on real SST-2 examples."""

from __future__ import annotations

import pytest

from green_chain.selection import BudgetedExampleSelector


@pytest.mark.integration
def test_sst2_selection_within_budget(shared_data_dir) -> None:
    pytest.importorskip("sentence_transformers")
    from green_chain.models import LocalEmbeddings
    from green_chain.models.token_counters import resolve_token_counter

    lines = (
        (shared_data_dir / "classification/sst2_stsa.binary.train").read_text().splitlines()[:200]
    )
    pool = [{"text": t, "label": lab} for lab, t in (x.split(" ", 1) for x in lines)]
    count = resolve_token_counter("smollm2-135m-instruct")
    sel = BudgetedExampleSelector(
        pool,
        max_tokens=120,
        embeddings=LocalEmbeddings(),
        token_counter="smollm2-135m-instruct",
        example_prompt=lambda e: f"{e['text']}\n{e['label']}",
        input_keys=["text"],
    )
    picked = sel.select_examples({"text": "a stirring , funny and transporting film"})
    assert len(picked) >= 1 and sum(count(f"{e['text']}\n{e['label']}") + 2 for e in picked) <= 120
    assert picked == sel.select_examples({"text": "a stirring , funny and transporting film"})
