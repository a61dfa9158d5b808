"""The dumb camera: captures and publishes JPEG pictures, no detection code."""
