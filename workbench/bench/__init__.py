"""Benchmark code behind `python main.py bench`: our pipeline against a peer library's, measured alike;
drawing views ahead on and off; the cost of evaluation; scanning and caching large folders.

Nothing here is imported by the app at run time; the peer library (lightly) is an optional extra.
"""
