"""The ASGI application: web chat, operators' console, webhooks, health check and JSON API."""
