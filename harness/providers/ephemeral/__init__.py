"""Servers started from locally installed binaries in a temporary directory on free ports."""
