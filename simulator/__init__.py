"""Runs the real firmware on a PC, and the whole system on one machine."""
