"""The Go/Gin call-room service (``docs/backends/rooms.md``)."""
