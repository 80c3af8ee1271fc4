"""irc: image automation and image backup for Kubernetes, on an asyncio mini controller-runtime."""

__version__ = "0.1.0"
