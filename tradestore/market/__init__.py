"""Market data: candles, indicators, signals, news, and comparison against a benchmark."""
