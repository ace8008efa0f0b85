"""Channel adapters: each translates its own payloads to and from the engine's messages."""
