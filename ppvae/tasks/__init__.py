"""Benchmark tasks built from the library's parts (quadrant completion)."""
