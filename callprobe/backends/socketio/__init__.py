"""The FastAPI + Socket.IO chat backend (``docs/backends/socketio.md``)."""
