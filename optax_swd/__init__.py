"""optax_swd: Selective Weight Decay pruning as an optax gradient transformation."""

from optax_swd._src.channels import channel_importance
from optax_swd._src.channels import ChannelGroup
from optax_swd._src.channels import prune_channels
from optax_swd._src.channels import select_channels
from optax_swd._src.channels import shrunk_param_count
from optax_swd._src.pruning import magnitude_mask
from optax_swd._src.pruning import prune
from optax_swd._src.pruning import sparsity_report
from optax_swd._src.pruning import SparsityReport
from optax_swd._src.schedule import exponential_penalty
from optax_swd._src.schedule import gradual_sparsity
from optax_swd._src.shrink import shrink
from optax_swd._src.shrink import Shrunk
from optax_swd._src.structured import structured_swd
from optax_swd._src.structured import StructuredSWDState
from optax_swd._src.transform import swd
from optax_swd._src.transform import SWDState

__version__ = "0.1.0"

__all__ = (
    "channel_importance",
    "ChannelGroup",
    "exponential_penalty",
    "gradual_sparsity",
    "magnitude_mask",
    "prune",
    "prune_channels",
    "select_channels",
    "shrink",
    "Shrunk",
    "shrunk_param_count",
    "sparsity_report",
    "SparsityReport",
    "structured_swd",
    "StructuredSWDState",
    "swd",
    "SWDState",
)
