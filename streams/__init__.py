"""The streaming runtime: settings, Faust app, topics, codecs, broker, producer and CLI (no NLP)."""

__version__ = "0.1.0"
