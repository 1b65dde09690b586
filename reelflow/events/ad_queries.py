"""Ad delivery from the event log: what was shown and how far it played, per ad and day.

Impressions and quartiles are counted by distinct event id (the views deduplicate), so a
player's resent batch never inflates what an advertiser is billed for. Completion is the
``complete`` quartiles over impressions: the share of shown ads that played to the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from reelflow.events.queries import EventFiles, connect

_AD_DELIVERY = """
WITH shown AS (
  SELECT ad, CAST(server_ts AS DATE) AS day, count(*) AS impressions,
         count(DISTINCT viewer) AS viewers, sum(duration_s) AS seconds
  FROM ad_impression WHERE server_ts >= $since AND server_ts < $until GROUP BY ALL
), played AS (
  SELECT ad, CAST(server_ts AS DATE) AS day,
         count(*) FILTER (WHERE quartile = 'first') AS first,
         count(*) FILTER (WHERE quartile = 'midpoint') AS midpoint,
         count(*) FILTER (WHERE quartile = 'third') AS third,
         count(*) FILTER (WHERE quartile = 'complete') AS complete
  FROM ad_quartile WHERE server_ts >= $since AND server_ts < $until GROUP BY ALL
)
SELECT ad, day, coalesce(impressions, 0), coalesce(viewers, 0), coalesce(seconds, 0.0),
       coalesce(first, 0), coalesce(midpoint, 0), coalesce(third, 0), coalesce(complete, 0)
FROM shown FULL OUTER JOIN played USING (ad, day)
ORDER BY day, ad
"""


@dataclass(frozen=True)
class AdDelivery:
    ad: str
    day: date
    impressions: int
    viewers: int  # distinct pseudonyms; opted-out viewers count as one ("anonymous")
    seconds: float
    first: int
    midpoint: int
    third: int
    complete: int

    @property
    def completion(self) -> float | None:
        return self.complete / self.impressions if self.impressions else None


def ad_delivery(files: EventFiles, since: datetime, until: datetime) -> list[AdDelivery]:
    """Per ad and UTC day in [since, until): impressions, viewers, seconds, quartiles."""
    with connect(files, ("ad_impression", "ad_quartile"), (since, until)) as con:
        rows = con.execute(_AD_DELIVERY, {"since": since, "until": until}).fetchall()
    return [AdDelivery(*row) for row in rows]
