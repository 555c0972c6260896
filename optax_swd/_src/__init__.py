"""Private implementation modules of optax_swd; import from `optax_swd` instead."""
