"""Response budgets: cap each answer at the generated tokens it needs.

- :class:`ResponseBudget`: wraps any chat model; binds a predicted answer budget
  (``max_tokens`` or the model's own name for it), the reasoning budget where the
  model uses one, stop sequences and an optional "answer concisely" line.
- Predictors: :class:`TaskBudgets` (budgets stated per task) and
  :class:`NearestNeighbourBudget` (a quantile of the answer lengths of the nearest
  earlier requests).
- :class:`BudgetPolicy`: the policy shared with the agent middleware
  :class:`green_chain.middleware.response.ResponseBudgetMiddleware`.
"""

from green_chain.response.budget import ResponseBudget
from green_chain.response.params import (
    budget_kwargs,
    cap_parameter,
    hit_cap,
    supports_repeat_stop,
)
from green_chain.response.policy import CONCISE_INSTRUCTION, BudgetPolicy
from green_chain.response.predictor import (
    BudgetPrediction,
    BudgetPredictor,
    NearestNeighbourBudget,
    TaskBudgets,
    quantile_of,
    request_text,
)

__all__ = [
    "CONCISE_INSTRUCTION",
    "BudgetPolicy",
    "BudgetPrediction",
    "BudgetPredictor",
    "NearestNeighbourBudget",
    "ResponseBudget",
    "TaskBudgets",
    "budget_kwargs",
    "cap_parameter",
    "hit_cap",
    "quantile_of",
    "request_text",
    "supports_repeat_stop",
]
