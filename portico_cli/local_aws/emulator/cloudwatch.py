"""CloudWatch statistics the local AWS (moto) lacks and portico reads, added as AWS computes them.

- GetMetricData with a percentile statistic (`p50`, `p99`, `p99.9`): moto returns nothing for it and fails
  to serialise the answer; AWS returns the percentile of the period's values
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html). Computed here
  over the raw values (`Value`, `Values` with `Counts`); data sent only as statistic sets has no raw values,
  and the largest `Maximum` stands in for it.
- PutMetricAlarm with a `Metrics` array, checked as CloudWatch does where portico depends on it (moto stores any
  array): exactly one query returns data (the one the alarm watches); an alarm reads ≤ 10 metrics (service
  quotas, https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html); an `Expression`
  is ≤ 2048 characters (the API's MetricExpression shape); a Metrics Insights query (`SELECT ...`) follows the
  documented grammar, `SELECT AVG|COUNT|MAX|MIN|SUM(metric) FROM namespace | SCHEMA(namespace, label, ...)
  [WHERE label = | != 'value' [AND ...]] [GROUP BY label, ...] [ORDER BY FUNCTION() [ASC|DESC]] [LIMIT ≤ 500]`
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html;
  its WHERE operators as the copy in awsdocs/amazon-cloudwatch-user-guide lists them: if AWS now takes more, this
  refuses more than AWS, never less), with a period of whole minutes (Metrics Insights has no high-resolution
  data), refused with `InvalidParameterValue` naming the query and the rule; and an account holds 200 Metrics
  Insights alarms per Region (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-limits.html),
  `LimitExceeded` beyond (`PORTICO_EMULATOR_METRICS_INSIGHTS_ALARMS` lowers it for a test). AWS documents no
  error code for a bad query; InvalidParameterValue is PutMetricAlarm's documented one for "a bad or
  out-of-range" input.
"""

from __future__ import annotations

import math
import re

from . import limit, wrap

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

    return wrapper


FUNCTIONS = ("AVG", "COUNT", "MAX", "MIN", "SUM")
MAX_EXPRESSION = 2048  # botocore's cloudwatch model: MetricExpression, max 2048
MAX_SERIES = 500  # a query returns at most 500 time series; LIMIT takes at most 500
TOKEN = re.compile(r"""\s*(?:(?P<ident>"(?:[^"\\]|\\.)*")|(?P<value>'(?:[^'\\]|\\.)*')|(?P<op>!=|=|\(|\)|,)"""
                   r"|(?P<word>[A-Za-z0-9_.]+))")


class BadQuery(ValueError):
    pass


def _tokens(query: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(query.rstrip()):
        m = TOKEN.match(query, at)
        if not m or m.end() == at:
            raise BadQuery(f"unexpected character {query[at:].lstrip()[:1]!r} at position {at}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        at = m.end()
    return out


def parse_insights(query: str) -> dict:
    """A Metrics Insights query's parts, or BadQuery naming the rule it breaks."""
    q = _Query(_tokens(query))
    out = {"where": [], "group_by": [], "order": None, "limit": None, "schema": None}
    q.word("SELECT")
    out["function"] = q.word(*FUNCTIONS)
    q.op("(")
    out["metric"] = q.name("metric name")
    q.op(")")
    q.word("FROM")
    if q.keyword("SCHEMA"):
        q.op("(")
        out["namespace"], out["schema"] = q.name("namespace"), []
        while q.comma():
            out["schema"].append(q.name("label"))
        q.op(")")
    else:
        out["namespace"] = q.name("namespace")
    if q.keyword("WHERE"):
        out["where"] = q.conditions()
    if q.keyword("GROUP"):
        q.word("BY")
        out["group_by"].append(q.name("label"))
        while q.comma():
            out["group_by"].append(q.name("label"))
    if q.keyword("ORDER"):
        q.word("BY")
        function = q.word(*FUNCTIONS)
        q.op("(")
        q.op(")")
        out["order"] = (function, q.word("ASC", "DESC") if q.peek()[1].upper() in ("ASC", "DESC") else "ASC")
    if q.keyword("LIMIT"):
        out["limit"] = q.limit()
    if q.peek()[0] != "end":
        raise BadQuery(f"unexpected {q.peek()[1]!r} after the query's last clause")
    return out


class _Query:
    """A cursor over a query's tokens; each reader takes what it expects or raises BadQuery naming it."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.i = tokens, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def keyword(self, text: str) -> bool:
        """Take the keyword `text` if it is next."""
        kind, found = self.peek()
        if kind == "word" and found.upper() == text:
            self.i += 1
            return True
        return False

    def comma(self) -> bool:
        if self.peek() == ("op", ","):
            self.i += 1
            return True
        return False

    def word(self, *allowed: str) -> str:
        kind, text = self.peek()
        if kind != "word" or text.upper() not in allowed:
            raise BadQuery(f"expected {' or '.join(allowed)}, found {text or 'the end of the query'!r}")
        self.i += 1
        return text.upper()

    def op(self, text: str) -> None:
        if self.peek() != ("op", text):
            raise BadQuery(f"expected {text!r}, found {self.peek()[1] or 'the end of the query'!r}")
        self.i += 1

    def name(self, what: str) -> str:
        """A metric, namespace or label: bare letters, digits and _, or in double quotes."""
        kind, text = self.peek()
        if kind == "ident":
            self.i += 1
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "word" and re.fullmatch(r"[A-Za-z0-9_]+", text) and text.upper() not in KEYWORDS:
            self.i += 1
            return text
        raise BadQuery(f"expected a {what} (in double quotes unless letters, digits and _ only), found "
                       f"{text or 'the end of the query'!r}")

    def conditions(self) -> list[tuple[str, str, str]]:
        """WHERE's `label = 'value'` / `label != 'value'`, joined by AND."""
        out = []
        while True:
            label = self.name("label")
            kind, text = self.peek()
            if kind != "op" or text not in ("=", "!="):
                raise BadQuery(f"WHERE compares a label with = or != only, found {text or 'the end'!r}")
            self.i += 1
            if self.peek()[0] != "value":
                raise BadQuery(f"a label value is in single quotes, found {self.peek()[1] or 'the end'!r}")
            out.append((label, text, re.sub(r"\\(.)", r"\1", self.peek()[1][1:-1])))
            self.i += 1
            if not self.keyword("AND"):
                return out

    def limit(self) -> int:
        kind, text = self.peek()
        if kind != "word" or not text.isdigit() or not 1 <= int(text) <= MAX_SERIES:
            raise BadQuery(f"LIMIT takes a number from 1 to {MAX_SERIES}, found {text or 'nothing'!r}")
        self.i += 1
        return int(text)


KEYWORDS = {"SELECT", "FROM", "WHERE", "GROUP", "ORDER", "BY", "ASC", "DESC", "LIMIT", "SCHEMA", "AND", "OR",
            *FUNCTIONS}


def is_insights(query) -> bool:
    return bool(query.expression) and query.expression.lstrip()[:7].upper() == "SELECT "


def check_alarm_queries(queries: list) -> None:
    """PutMetricAlarm's Metrics as CloudWatch checks them (see the module's docstring)."""
    from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError

    for n, q in enumerate(queries, 1):
        if q.expression and len(q.expression) > MAX_EXPRESSION:
            raise ValidationError(f"1 validation error detected: Value at 'metrics.{n}.member.expression' failed to "
                                  f"satisfy constraint: Member must have length less than or equal to "
                                  f"{MAX_EXPRESSION}")
    returning = [q.id for q in queries if str(q.return_data).lower() in ("true", "none", "")]
    if len(returning) != 1:
        raise ValidationError(f"Metrics: exactly one query returns data (ReturnData true), the value the alarm "
                              f"watches; {len(returning)} do ({', '.join(map(str, returning)) or 'none'})")
    if sum(1 for q in queries if q.metric_stat) > 10:
        raise InvalidParameterValue("Metrics: an alarm on metric math reads at most 10 metrics (MetricStat)")
    for q in queries:
        if not is_insights(q):
            continue
        try:
            parse_insights(q.expression)
        except BadQuery as bad:
            raise InvalidParameterValue(f"Metrics (Id {q.id}): the Metrics Insights query is invalid: {bad}") from None
        if not q.period or int(q.period) % 60:
            raise InvalidParameterValue(f"Metrics (Id {q.id}): a Metrics Insights query needs a Period of whole "
                                        f"minutes (60, 120, ...); got {q.period}")


def _checked(put_metric_alarm):
    def wrapper(self, name, *args, metric_data_queries=None, **kwargs):
        if metric_data_queries:
            check_alarm_queries(metric_data_queries)
            if any(is_insights(q) for q in metric_data_queries):
                quota = int(limit("PORTICO_EMULATOR_METRICS_INSIGHTS_ALARMS", 200))
                others = [a for n, a in self.alarms.items()
                          if n != name and any(is_insights(q) for q in a.metric_data_queries or [])]
                if len(others) >= quota:
                    from moto.cloudwatch.exceptions import CloudWatchException

                    raise CloudWatchException("LimitExceeded", "The quota for alarms for this customer has already "
                                              f"been reached: {quota} Metrics Insights alarms per Region")
        return put_metric_alarm(self, name, *args, metric_data_queries=metric_data_queries, **kwargs)

    return wrapper


def install() -> None:
    from moto.cloudwatch.models import CloudWatchBackend, Statistics

    wrap(Statistics, "get_statistics_for_type", _with_percentiles)
    wrap(CloudWatchBackend, "put_metric_alarm", _checked)
