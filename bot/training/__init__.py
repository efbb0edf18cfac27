"""Offline tools: training the prefilter (``modbot train-prefilter``) and evaluating the stages (``modbot eval``)."""
