"""The judging stages: text normalisation, keyword/regex rules, the embedding prefilter, the reasoner.

Each stage is a pure function of its inputs or a port implementation; none touches storage or a platform.
"""
