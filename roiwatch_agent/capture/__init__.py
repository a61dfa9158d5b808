"""Frame capture: opened once per agent run, handed to detection processes."""
