"""CloudWatch statistics the local AWS (moto) lacks and portico reads, added as AWS computes them.

- GetMetricData with a percentile statistic (`p50`, `p99`, `p99.9`): moto returns nothing for it and fails
  to serialise the answer; AWS returns the percentile of the period's values
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html). Computed here
  over the raw values (`Value`, `Values` with `Counts`); data sent only as statistic sets has no raw values,
  and the largest `Maximum` stands in for it.
"""

from __future__ import annotations

import math
import re

from . import wrap

PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)$")


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _with_percentiles(get_statistics_for_type):
    def wrapper(self, stat):
        m = PERCENTILE.match(stat or "")
        if not m:
            return get_statistics_for_type(self, stat)
        values = [float(v) for v in self.metric_single_values_list]
        if values:
            return percentile(values, float(m.group(1)))
        maxima = [float(s.max) for s in self.metric_aggregated_list]
        return max(maxima) if maxima else None

    wrapper.portico = True
    return wrapper


def install() -> None:
    from moto.cloudwatch.models import Statistics

    wrap(Statistics, "get_statistics_for_type", _with_percentiles)
