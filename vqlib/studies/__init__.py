"""The studies: one module per chapter family, each mapping a chapter's parameters to tidy per-seed tables.

A study module computes and nothing else (its source is part of its results' key, vqlib.store); what a
chapter derives from the tables (summaries, readings) lives in vqlib.analysis.
"""
