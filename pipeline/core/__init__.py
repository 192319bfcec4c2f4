"""Shared plumbing: paths, atomic writes, run manifests, seeding, errors."""
