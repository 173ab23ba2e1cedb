"""Benchmark code behind `python main.py bench`: our pipeline against a peer library's, measured alike.

Nothing here is imported by the app at run time; the peer library (lightly) is an optional extra.
"""
