"""Runs described in plain language: a message becomes a proposed run (a workflow or a
template, its params, a dataset), checked exactly as a trigger checks it, started only on an
explicit confirm."""
