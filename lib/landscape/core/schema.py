"""The base of every validated settings model (params files, probe settings)."""
from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors; validated values are frozen (hashable, safe to share); a float
    is finite (``.inf`` or ``.nan`` for a learning rate or a tolerance is an error, not a run)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
