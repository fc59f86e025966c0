"""The in-process scheduler: APScheduler only ticks; what is due lives in our tables."""
