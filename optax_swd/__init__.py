"""optax_swd: Selective Weight Decay pruning as an optax gradient transformation."""

from optax_swd._src.pruning import magnitude_mask
from optax_swd._src.pruning import prune
from optax_swd._src.pruning import sparsity_report
from optax_swd._src.pruning import SparsityReport
from optax_swd._src.schedule import exponential_penalty
from optax_swd._src.transform import swd
from optax_swd._src.transform import SWDState

__version__ = "0.1.0"

__all__ = (
    "exponential_penalty",
    "magnitude_mask",
    "prune",
    "sparsity_report",
    "SparsityReport",
    "swd",
    "SWDState",
)
