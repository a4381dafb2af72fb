"""Adapters from framework models to the torch-free IR (import submodules explicitly; they need torch)."""
