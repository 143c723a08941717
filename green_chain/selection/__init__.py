"""Few-shot example selection under a token budget (``BudgetedExampleSelector``)."""

from green_chain.selection.budgeted import OPTIMIZER_NAME, BudgetedExampleSelector
from green_chain.selection.formatting import ExampleKeyError
from green_chain.selection.mmr import budgeted_mmr

__all__ = ["OPTIMIZER_NAME", "BudgetedExampleSelector", "ExampleKeyError", "budgeted_mmr"]
