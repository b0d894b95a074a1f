"""The one base every model shares: strict about unknown fields and non-finite numbers
(`.inf`, `.nan`), immutable once validated."""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
