"""effebot-dispatcher: paced, safe voice-call campaigns on the effebot API."""

__version__ = "0.1.0"
