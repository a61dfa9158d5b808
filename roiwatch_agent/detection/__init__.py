"""Runs in the detection process: pipeline, motion gate, regions, person model, preview."""
