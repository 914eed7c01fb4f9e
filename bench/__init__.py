"""Benchmarks (never tests): workload W1 and the large-scale trace figures.

``python -m bench`` runs W1 (``../shared/bench/W1.md``) as bare SQL (the floor),
through the service layer and through HTTP, on SQLite and PostgreSQL;
``python -m bench.scale`` builds a large database and times the read paths.
Figures go to the terminal (Rich tables) and to ``bench/results/*.json``.
"""
