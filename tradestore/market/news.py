"""News sentiment: scored headlines, deduplicated per source (``repo.news``)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Sequence

from tradestore._core.codec import (json_object_in, json_out, optional_text, optional_utc, show,
                                    time_range, to_finite_float, to_id, to_text, to_utc, ts_in,
                                    ts_out)
from tradestore._core.hints import Engine, JSONObject, Moment
from tradestore._core.query import filtered
from tradestore.errors import NotFoundError, ValidationError


@dataclass(frozen=True)
class NewsSentiment:
    """A scored headline.

    Attributes:
      id: stable integer id.
      symbol: the instrument it is about.
      headline: the headline text.
      source: where it came from (feed, site, API).
      url: link, or None.
      published_at: publication time (aware UTC).
      sentiment_score: float from -1 (negative) to 1 (positive).
      sentiment_label: e.g. ``"positive"``, or None.
      metadata: dict, or None.
      created_at: when it was recorded (aware UTC).
    """

    id: int
    symbol: str
    headline: str
    source: str
    url: str | None
    published_at: _dt.datetime
    sentiment_score: float
    sentiment_label: str | None
    metadata: dict | None
    created_at: _dt.datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> NewsSentiment:
        """The record of one row of this module's SELECTs (stored text decoded)."""
        return cls(row[0], row[1], row[2], row[3], row[4], ts_out(row[5]), row[6], row[7],
                   json_out(row[8]), ts_out(row[9]))


_NEWS_COLUMNS = ("id, symbol, headline, source, url, published_at, sentiment_score, "
                 "sentiment_label, metadata, created_at")
INSERT_NEWS = """
INSERT INTO news (symbol, headline, source, url, published_at, sentiment_score,
                  sentiment_label, metadata, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
FIND_NEWS = "SELECT id FROM news WHERE source = ? AND coalesce(url, headline) = ?"
SELECT_NEWS = f"SELECT {_NEWS_COLUMNS} FROM news"
NEWS_FILTERS = {"symbol": "symbol = ?", "since": "published_at >= ?",
                "until": "published_at < ?"}
AVERAGE_SENTIMENT = """
SELECT avg(sentiment_score) FROM news
WHERE symbol = ? AND published_at >= ? AND published_at < ?
"""


class NewsStore:
    """``repo.news``: scored headlines, one per (source, url or else headline)."""

    def __init__(self, db: Engine):
        self.db = db

    def save(self, symbol: str, headline: str, *, source: str, published_at: Moment,
             sentiment_score: float, url: str | None = None, sentiment_label: str | None = None,
             metadata: JSONObject | None = None) -> int:
        """Save a scored headline; returns its id. A headline already saved from the same
        source (same url, or same headline when there is no url) is not saved again:
        the stored row is kept as it was and its id returned."""
        score = to_finite_float(sentiment_score, "sentiment_score")
        if not -1 <= score <= 1:
            raise ValidationError(f"sentiment_score: {show(sentiment_score)} must be from -1 to 1",
                                  field="sentiment_score", value=sentiment_score)
        headline = to_text(headline, "headline", max_length=2000)
        source = to_text(source, "source")
        url = optional_text(url, "url", max_length=2000)
        row = (to_text(symbol, "symbol"), headline, source, url,
               ts_in(to_utc(published_at, "published_at")), score,
               optional_text(sentiment_label, "sentiment_label", max_length=50),
               json_object_in(metadata, "metadata"), ts_in(self.db.now()))
        with self.db.transaction() as conn:
            cursor = conn.execute(INSERT_NEWS, row)
            if cursor.rowcount == 1:
                return cursor.lastrowid
            return conn.execute(FIND_NEWS, (source, url if url is not None else headline)
                                ).fetchone()[0]

    def get(self, news_id: int) -> NewsSentiment:
        row = self.db.query_one(f"{SELECT_NEWS} WHERE id = ?", (to_id(news_id, "news_id"),))
        if row is None:
            raise NotFoundError(f"news {news_id}: no such news item")
        return NewsSentiment.from_row(row)

    def recent(self, symbol: str | None = None, since: Moment | None = None, *,
               until: Moment | None = None, limit: int = 100) -> list[NewsSentiment]:
        """Headlines newest first (by publication time), optionally for one symbol."""
        values = {"symbol": None if symbol is None else to_text(symbol, "symbol"),
                  "since": ts_in(optional_utc(since, "since")),
                  "until": ts_in(optional_utc(until, "until"))}
        rows = filtered(self.db, SELECT_NEWS, NEWS_FILTERS, values,
                        "published_at DESC, id DESC", limit)
        return [NewsSentiment.from_row(row) for row in rows]

    def average_sentiment(self, symbol: str, since: Moment | None = None, *,
                          until: Moment | None = None) -> float | None:
        """Mean sentiment_score of the symbol's headlines published in [since, until);
        None when there are none."""
        return self.db.scalar(AVERAGE_SENTIMENT, (
            to_text(symbol, "symbol"), *time_range(since, until, ("since", "until"))))
