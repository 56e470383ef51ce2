"""livevote: real-time voting — live events, a poll feed and election-night tallies."""

__version__ = "0.1.0"
