"""The ASGI application: web chat, health check and JSON API (operators' console comes later)."""
