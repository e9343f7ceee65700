"""Packaging: what a wheel ships and how an installed datagen finds its schemas and scenarios."""
