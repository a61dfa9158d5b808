"""Home Assistant tests of the RoiWatch integration."""
