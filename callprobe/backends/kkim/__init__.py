"""The KKIM message gateway, an OpenIM fork (``docs/backends/kkim.md``)."""
