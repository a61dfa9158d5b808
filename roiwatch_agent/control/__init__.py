"""Runs in the agent's main process: MQTT control, one controller and supervisor per camera."""
