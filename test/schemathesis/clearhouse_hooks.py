"""Rules of the Clearhouse API that JSON Schema cannot state, taught to Schemathesis.

The contract test (test/api-contract.test.ts) runs the pinned Schemathesis against
/openapi.json. Almost every rule the server enforces is in that document; the few below
relate two values of one request, or a value to what a list gave out, which a JSON Schema
cannot say. For each, a request the fuzzer generates as *valid* (positive mode) is brought
within the rule, or left out; requests generated as invalid (negative mode) are never touched,
so the server must still refuse every one of them. The README ("The API contract") lists
these rules with the same reasons; keep the two in step.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import schemathesis

# Decimals per currency, from the server's own registry (the test passes it).
SCALES: dict[str, int] = json.loads(os.environ.get("CLEARHOUSE_CURRENCY_SCALES", "{}"))
# Largest amount in minor units (a signed 64-bit integer, domain/money.ts MAX_MINOR).
MAX_MINOR = 2**63 - 1
# GET …/positions: a range of fewer days than this (api/routes/transactions.ts; the test passes it).
MAX_POSITION_DAYS = int(os.environ["CLEARHOUSE_MAX_POSITION_DAYS"])
# POST …/settlement-schedule/backfill: at most this many days (api/routes/settlements.ts).
BACKFILL_MAX_DAYS = int(os.environ["CLEARHOUSE_BACKFILL_MAX_DAYS"])
# GET /v1/insights/revenue: the shortest of its range limits (api/routes/insights.ts).
MAX_REVENUE_DAYS = int(os.environ["CLEARHOUSE_MAX_REVENUE_DAYS"])
# GET /v1/insights/revenue/hourly: at most this many days (api/routes/insights.ts).
MAX_HOURLY_DAYS = int(os.environ["CLEARHOUSE_MAX_HOURLY_DAYS"])


def _positive(case) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def _date(value):
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _ordered_range(container: dict, start: str, end: str, max_days: int) -> None:
    """`end` on or after `start`, at most `max_days` days later (inclusive count)."""
    a, b = _date(container.get(start)), _date(container.get(end))
    if a is None or b is None:
        return
    if b < a or (b - a).days >= max_days:
        container[end] = container[start]


def _instant(value):
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None


def _amount(value: str, currency: str) -> str:
    """A decimal string within the currency's decimals and the minor-unit range."""
    scale = SCALES.get(currency)
    if scale is None or not isinstance(value, str):
        return value
    sign = "-" if value.startswith("-") else ""
    whole, _, fraction = value.lstrip("-").partition(".")
    fraction = fraction[:scale]
    max_whole = len(str(MAX_MINOR)) - 1 - scale
    whole = (whole[-max_whole:] if max_whole > 0 else "0").lstrip("0") or "0"
    text = whole + (f".{fraction}" if fraction else "")
    return sign + text if text.strip("0.") else text


THRESHOLD_CEILING = int(os.environ["CLEARHOUSE_THRESHOLD_CEILING"])


def _threshold(terms) -> None:
    """A payout-approval threshold is at most the deployment's ceiling (a configured value)."""
    settlement = terms.get("settlement") if isinstance(terms, dict) else None
    value = settlement.get("payoutApprovalThresholdMinor") if isinstance(settlement, dict) else None
    if isinstance(value, str) and value.isdigit() and int(value) > THRESHOLD_CEILING:
        settlement["payoutApprovalThresholdMinor"] = str(THRESHOLD_CEILING)


def _tiers(terms) -> None:
    """Tiers rise from one to the next, and only the last is open-ended (domain/fees.ts)."""
    if not isinstance(terms, dict) or not isinstance(terms.get("tiers"), list) or not terms["tiers"]:
        return
    tiers = terms["tiers"]
    for i, tier in enumerate(tiers):
        if isinstance(tier, dict):
            tier["upToMinor"] = None if i == len(tiers) - 1 else str((i + 1) * 100_000)


def _reconciliation(recon) -> None:
    """A contract's reconciliation block (domain/rules.ts): rule ids unique in the list, the
    matcher's weights adding up to 100 (a stated weight plus the defaults may not), and its
    lower threshold not above its upper one."""
    if not isinstance(recon, dict):
        return
    rules = recon.get("rules")
    if isinstance(rules, list):
        seen = set()
        for i, rule in enumerate(rules):
            if isinstance(rule, dict) and isinstance(rule.get("id"), str):
                if rule["id"] in seen:
                    rule["id"] = f"r{i}"[:40]
                seen.add(rule["id"])
    matching = recon.get("matching")
    if isinstance(matching, dict):
        if "weights" in matching:
            matching["weights"] = {"amount": 40, "currency": 30, "time": 20, "reference": 10}
        # JSON integers may come as 8.0: compare them as numbers.
        upper, lower = matching.get("autoConfirmAt", 90), matching.get("suggestAt", 60)
        if isinstance(upper, (int, float)) and isinstance(lower, (int, float)) and lower > upper:
            matching["suggestAt"] = upper


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    # Every phase's requests pass here (generation hooks miss some, e.g. the coverage phase's
    # minimal bodies); Schemathesis revalidates a case a before_call hook changed.
    path, method = case.operation.path, case.operation.method.lower()
    if not _positive(case):
        return
    query = case.query if isinstance(case.query, dict) else None
    body = case.body if isinstance(case.body, dict) else None

    # A cursor is opaque: only a nextCursor the list gave out is valid, and a schema cannot
    # list those. Valid-by-schema requests go without one (malformed cursors are still sent).
    if query is not None:
        query.pop("cursor", None)

    if method == "get" and path.endswith("/positions") and query is not None:
        _ordered_range(query, "from", "to", MAX_POSITION_DAYS)
    elif method == "get" and path == "/v1/insights/revenue" and query is not None:
        # One day (`date`) or a range (`from` and `to`), never both; groupBy=game names a partner.
        if "from" in query or "to" in query or "date" not in query:
            query.pop("date", None)
            query.setdefault("from", query.get("to", "2026-11-23"))
            query.setdefault("to", query["from"])
            _ordered_range(query, "from", "to", MAX_REVENUE_DAYS)
        if query.get("groupBy") == "game" and "partnerId" not in query:
            query["groupBy"] = "day"
    elif method == "get" and path == "/v1/insights/revenue/hourly" and query is not None:
        # `to` not before `from`, at most MAX_HOURLY_DAYS later (the same instant always is).
        a, b = _instant(query.get("from")), _instant(query.get("to"))
        if a is None or b is None or b < a or b - a > dt.timedelta(days=MAX_HOURLY_DAYS):
            query["to"] = query.get("from")
    elif path == "/v1/partners/{partnerId}/invoices" and method == "post" and body is not None:
        # In the partner's settlement currency (the test's partner settles in EUR); a calendar
        # date from 1970, the end on or after the start, within a quarter; one line per key.
        body["currency"] = "EUR"
        period = body.get("period")
        if isinstance(period, dict):
            for k in ("start", "end"):
                d = _date(period.get(k))
                if d is None or d.year < 1970:
                    period[k] = "2026-11-01"
            _ordered_range(period, "start", "end", 92)
        lines = body.get("lines")
        if isinstance(lines, list):
            seen = set()
            body["lines"] = [l for l in lines if not (isinstance(l, dict) and (l.get("line") in seen or seen.add(l.get("line"))))]
            for l in body["lines"]:
                if isinstance(l, dict) and "amount" in l:
                    l["amount"] = _amount(l["amount"], body.get("currency"))
    elif path.endswith("/settlement-schedule/backfill") and body is not None:
        _ordered_range(body, "from", "to", BACKFILL_MAX_DAYS)
    elif path == "/v1/settlements" and method == "post" and body is not None and "periodEnd" in body:
        # A period ends on or after its start, in the month it starts (monthly accruals).
        start, end = _date(body.get("periodStart")), _date(body.get("periodEnd"))
        if start and end and (end < start or (end.year, end.month) != (start.year, start.month)):
            body["periodEnd"] = body["periodStart"]
    elif path == "/v1/transactions" and method == "post" and body is not None:
        for tx in body.get("transactions") or []:
            if isinstance(tx, dict) and "amount" in tx:
                tx["amount"] = _amount(tx["amount"], tx.get("currency"))
    elif re.fullmatch(r"/v1/partners/\{partnerId\}/contracts/\{version\}", path) and body is not None:
        _tiers(body.get("terms"))
        _threshold(body.get("terms"))
        if isinstance(body.get("terms"), dict):
            _reconciliation(body["terms"].get("reconciliation"))
    elif path == "/v1/partners/{partnerId}/reconciliation-rules/dry-run" and body is not None:
        _reconciliation(body.get("reconciliation"))
    elif path == "/v1/partners/{partnerId}/games" and method == "put" and body is not None:
        # A game is listed once per request (its category would be ambiguous otherwise).
        seen = set()
        games = body.get("games")
        if isinstance(games, list) and games:
            kept = [g for g in games if not (isinstance(g, dict) and (g.get("gameId") in seen or seen.add(g.get("gameId"))))]
            body["games"] = kept
    elif path == "/v1/canonical-games/{id}" and method == "put" and body is not None:
        # The jackpot contribution is part of the theoretical RTP: it is below it.
        try:
            if float(body.get("jackpotContributionRate", "0")) >= float(body.get("theoreticalRtp", "1")):
                body["jackpotContributionRate"] = "0"
        except (TypeError, ValueError):
            pass
    elif path == "/v1/partners/{partnerId}/game-mappings" and method == "put" and body is not None:
        # One mapping per game; a canonical id must exist in the catalogue, so the fuzzer unmaps.
        seen = set()
        mappings = body.get("mappings")
        if isinstance(mappings, list) and mappings:
            kept = [m for m in mappings if not (isinstance(m, dict) and (m.get("gameId") in seen or seen.add(m.get("gameId"))))]
            for m in kept:
                if isinstance(m, dict):
                    m["canonicalId"] = None
            body["mappings"] = kept
    elif path == "/v1/partner-applications" and method == "post" and body is not None:
        contract = body.get("contract")
        if isinstance(contract, dict):
            _tiers(contract.get("terms"))
            _threshold(contract.get("terms"))
            if isinstance(contract.get("terms"), dict):
                _reconciliation(contract["terms"].get("reconciliation"))
