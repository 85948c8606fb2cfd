"""Runnable examples that live next to calbridge (the example booking system)."""
