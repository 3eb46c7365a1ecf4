"""Figures over the record: statistics and performance metrics, time-weighted returns, the
text and HTML report, charts."""
