"""Merge benchmark runs made on disjoint scenarios into one results document.

A full run (every item of every split) is long on a small machine, so it is usually
split by scenario across processes or machines
(``green-chain bench --scenarios squad,nq ...`` here, ``--scenarios qmsum ...`` there).
:func:`merge_documents` joins such runs and recomputes the overall figures exactly as a
single run would (energy-weighted saving, mean retention, projected columns), after
checking that the runs are comparable: same git commit, same schema, same models, same green settings,
seed and projection, and no scenario in two runs. Runs may use different ``--items``
(each scenario's figures carry their own item count and intervals): the merged
``options.items`` is then ``None`` and ``options.items_by_scenario`` gives each scenario's
test items. Every source run's command, options and environment are kept under
``merged_from``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from green_chain.bench.results import overall

#: Options that must agree between merged runs (they change what a figure means); the
#: item count may differ (each scenario reports its own ``n_items`` and intervals).
MATCHING_OPTIONS = ("quick", "seed", "settings", "data_source")


class MergeError(ValueError):
    """The runs cannot be merged; the message names the run and the difference."""


def _label(i: int, doc: dict[str, Any]) -> str:
    return f"run {i + 1} ({' '.join(map(str, doc.get('command', [])))[:80] or 'no command'})"


def _git(doc: dict[str, Any]) -> dict[str, Any]:
    return dict((doc.get("environment") or {}).get("git") or {})


def _check(docs: Sequence[dict[str, Any]], replace: bool = False) -> None:
    first = docs[0]
    for i, doc in enumerate(docs[1:], start=1):
        where = _label(i, doc)
        ga, gb = _git(first), _git(doc)
        if ga.get("commit") != gb.get("commit"):
            raise MergeError(
                f"{where} ran commit {gb.get('commit')!r}, run 1 ran {ga.get('commit')!r}: "
                "merge only runs of the same code"
            )
        if doc.get("schema_version") != first.get("schema_version"):
            raise MergeError(
                f"{where} has schema_version {doc.get('schema_version')!r}, run 1 has "
                f"{first.get('schema_version')!r}"
            )
        if doc.get("models") != first.get("models"):
            raise MergeError(
                f"{where} used models {doc.get('models')}, run 1 used {first.get('models')}"
            )
        for key in MATCHING_OPTIONS:
            a, b = first.get("options", {}).get(key), doc.get("options", {}).get(key)
            if a != b:
                raise MergeError(f"{where} has option {key}={b!r}, run 1 has {key}={a!r}")
        pa = (first.get("projection") or {}).get("spec")
        pb = (doc.get("projection") or {}).get("spec")
        if pa != pb:
            raise MergeError(f"{where} projected for {pb!r}, run 1 for {pa!r}")
    seen: dict[str, int] = {}
    for i, doc in enumerate(docs):
        for name in doc.get("scenarios", {}):
            if name in seen and not replace:
                raise MergeError(
                    f"scenario {name!r} is in run {seen[name] + 1} and in run {i + 1}; merge "
                    f"runs of disjoint scenarios (or pass replace=True / --replace to let the "
                    f"later run's entry replace the earlier one)"
                )
            seen[name] = i


def _merged_environment(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Run 1's environment, its git ``dirty`` flag true if any run's tree was dirty."""
    env = dict(docs[0].get("environment") or {})
    flags = [_git(d).get("dirty") for d in docs]
    if any(f is not None for f in flags):
        env["git"] = {**_git(docs[0]), "dirty": any(bool(f) for f in flags)}
    return env


def merge_documents(docs: Sequence[dict[str, Any]], *, replace: bool = False) -> dict[str, Any]:
    """One results document from runs of disjoint scenarios (see the module doc).

    With ``replace``, a scenario in a later run replaces the same scenario of an earlier
    run (a scenario re-run after a fix); ``merged_from`` lists which run each scenario
    entry came from, and ``replaced`` what was dropped.

    Raises:
        MergeError: fewer than two runs, or runs that differ in schema, models,
            settings, item count, seed or projection, or share a scenario.
    """
    if len(docs) < 2:
        raise MergeError(f"merge needs at least two results files, got {len(docs)}")
    _check(docs, replace)
    scenarios: dict[str, Any] = {}
    source: dict[str, int] = {}
    replaced: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        for name, entry in doc["scenarios"].items():
            if name in scenarios:
                replaced.append({"scenario": name, "run": source[name] + 1, "by_run": i + 1})
            scenarios[name] = entry  # a replacement keeps the scenario's place in the table
            source[name] = i
    first = docs[0]
    options = dict(first.get("options", {}))
    options["scenarios"] = list(scenarios)
    if len({d.get("options", {}).get("items") for d in docs}) > 1:
        options["items"] = None
    options["items_by_scenario"] = {
        name: len(entry.get("item_ids") or []) or entry.get("n_items")
        for name, entry in scenarios.items()
    }
    options["elapsed_s"] = sum(float(d.get("options", {}).get("elapsed_s") or 0.0) for d in docs)
    merged: dict[str, Any] = {
        "schema_version": first.get("schema_version"),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": ["green-chain", "merge"],  # the CLI adds its file arguments
        "options": options,
        "models": first.get("models"),
        "environment": _merged_environment(docs),
        "overall": overall(list(scenarios.values())),
        "scenarios": scenarios,
        "merged_from": [
            {
                "command": d.get("command"),
                "created": d.get("created"),
                "options": d.get("options"),
                "environment": d.get("environment"),
                "scenarios": [n for n, j in source.items() if j == i],
            }
            for i, d in enumerate(docs)
        ],
    }
    if replaced:
        merged["replaced"] = replaced
    if "projection" in first:
        merged["projection"] = first["projection"]
    try:
        from green_chain.bench.plots import fit_curves

        merged["energy_curves"] = fit_curves(merged)
    except Exception as exc:  # curves are a bonus; never lose a merge for them
        merged["energy_curves"] = {"error": str(exc)}
    return merged
