"""The one base every model shares: strict about unknown fields, immutable once validated."""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
