"""Load, chaos and fuzz runs: thin scripts (run_suite.py, chaos.py, fuzz.py, feed_scale.py,
sse_clients.py, profile_sse_memory.py) over the library in loadtest/lib/. README.md says
how to run each one."""
