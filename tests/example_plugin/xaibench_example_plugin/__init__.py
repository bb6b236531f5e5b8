"""An example xaibench plug-in: the method `gxi_pos` and the metric `top_drop`, registered
when xaibench loads the entry points of this package (see pyproject.toml)."""
