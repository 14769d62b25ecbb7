"""callprobe: headless WebRTC call testing and diagnostics for KKIM gateways."""

__version__ = "0.1.0"
