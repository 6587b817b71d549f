"""Local-only tools: the dev server, the Upstash stand-in and benchmarks. Never deployed."""
