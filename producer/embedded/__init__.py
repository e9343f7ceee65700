"""Embedded infrastructure for one-command runs: a Tansu broker and a local schema registry."""
