"""The base of every validated settings model (params files, probe settings)."""
from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors; validated values are frozen (hashable, safe to share)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
