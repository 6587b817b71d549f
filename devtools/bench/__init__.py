"""Benchmarks: cost and speed per endpoint, how they grow, how they compare, and a whole session.

``python -m devtools.bench`` (``make bench``) runs everything on this machine: the Upstash
stand-in (``devtools.upstash_local``, in a child process behind real HTTP, with a simulated
network round trip) in front of a private redis-server, which counts the Redis commands Upstash
would bill. Nothing is asserted; the run prints tables and writes them as JSON. BENCHMARKS.md
has the latest results.
"""
