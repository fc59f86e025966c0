"""The workspace's base currency, its exchange rates, and the one way a total is made.

Amounts in different currencies are never added as they are. Whoever shows a total (a board
column, the forecast, a report) collects its sums *per currency* and hands them to
``total_in_base``, which converts each with the current rate (exact ``Decimal`` arithmetic,
rounded only when shown) and keeps apart the currencies that have no rate, so the screen can
show them beside the total instead of adding them silently.

A rate says what one unit of a currency is worth in the base currency, and belongs to the
base it was entered for (``ExchangeRate.base_currency``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import case, func, literal_column, null

from leadflow.accounts.models import User
from leadflow.db import transaction_cache, utcnow
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes
from leadflow.governance.models import CURRENCIES, ExchangeRate
from leadflow.governance.settings import get_settings, set_setting
from leadflow.pipeline.models import StageCurrencyTotals
from leadflow.web import refcache
from leadflow.web.formatting import UTC_ZONE, format_day, money

RATE_DECIMALS = 8  # NUMERIC(18, 8): at most 10 digits before the point and 8 after
RATE_LIMIT = Decimal(10_000_000)  # kept to 15 significant digits, which SQLite also stores exactly


def base_currency() -> str:
    """The currency every total is shown in: the setting, else the default currency of new
    leads (what a workspace that never chose one has been entering), else USD."""
    settings = get_settings("base_currency", "default_currency")
    return settings["base_currency"] or settings["default_currency"] or "USD"


@dataclass(frozen=True)
class Rate:
    currency: str
    rate: Decimal
    set_at: datetime
    set_by: str


@dataclass(frozen=True)
class Rates:
    """The base currency and the rates to it, read once per page."""

    base: str
    by_currency: dict[str, Rate] = field(default_factory=dict)

    def get(self, currency: str) -> Rate | None:
        return self.by_currency.get(currency)


def current_rates(base: str | None = None) -> Rates:
    """The rates to ``base`` (the base currency), read once per transaction."""
    base = base or base_currency()
    kept = transaction_cache("exchange rates", forget_when_adding=ExchangeRate)
    if base not in kept:
        rates = refcache.cached(("exchange_rates", "users"), f"rates to {base}", lambda: _load_rates(base))
        transaction_cache("exchange rates")[base] = rates
        return rates
    return kept[base]


def _load_rates(base: str) -> Rates:
    rows = db.session.execute(
        db.select(ExchangeRate.currency, ExchangeRate.rate, ExchangeRate.set_at, User.name)
        .outerjoin(User, User.id == ExchangeRate.set_by_id).where(ExchangeRate.base_currency == base))
    return Rates(base, {r.currency: Rate(r.currency, Decimal(r.rate).normalize(), r.set_at, r.name or "a removed user")
                        for r in rows})


@dataclass(frozen=True)
class Unconverted:
    """A currency's amount that no rate converts: shown beside a total, never added to it."""

    currency: str
    cents: Decimal
    leads: int

    @property
    def rounded_cents(self) -> int:
        return int(self.cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class MoneyTotal:
    """A total in the base currency: ``cents`` exact, the rest says what it is made of."""

    base: str
    cents: Decimal = Decimal(0)
    converted_leads: int = 0
    converted: tuple[str, ...] = ()  # currencies other than the base that were converted
    rate_set: tuple[datetime, ...] = ()  # when the rates used were set, oldest first
    unconverted: tuple[Unconverted, ...] = ()

    @property
    def rounded_cents(self) -> int:
        return int(self.cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def scaled(self, factor: Decimal) -> MoneyTotal:
        """This total times ``factor`` (a stage's win probability), the parts without a rate too."""
        return replace(self, cents=self.cents * factor,
                       unconverted=tuple(replace(u, cents=u.cents * factor) for u in self.unconverted))

    def note(self, zone: tzinfo = UTC_ZONE) -> str | None:
        """"Includes 3 leads in EUR, GBP converted at rates set Mon 30 Nov 2026", or None: the
        days the rates were set as the reader in ``zone`` reads them."""
        if not self.converted:
            return None
        leads = f"{self.converted_leads} lead{'' if self.converted_leads == 1 else 's'}"
        days = sorted({at.astimezone(zone).date() for at in self.rate_set})
        first, last = format_day(days[0], zone), format_day(days[-1], zone)
        when = first if first == last else f"{first} to {last}"
        rates = "the rate" if len(self.converted) == 1 else "rates"
        return f"Includes {leads} in {', '.join(self.converted)} converted at {rates} set {when}"


def total_in_base(amounts: Mapping[str, tuple[int, int | Decimal]], rates: Rates) -> MoneyTotal:
    """The one place amounts in several currencies become one total.

    ``amounts`` maps a currency to (leads with a value, their sum in that currency's cents).
    Each currency with a rate is converted exactly; each without one is kept apart.
    """
    cents = Decimal(0)
    converted, set_at, unconverted = [], set(), []
    converted_leads = 0
    for currency in sorted(amounts):
        leads, amount = amounts[currency]
        if not leads and not amount:
            continue
        amount = Decimal(amount)
        if currency == rates.base:
            cents += amount
            continue
        rate = rates.get(currency)
        if rate is None:
            unconverted.append(Unconverted(currency, amount, leads))
            continue
        cents += amount * rate.rate
        converted.append(currency)
        converted_leads += leads
        set_at.add(rate.set_at)
    return MoneyTotal(rates.base, cents, converted_leads, tuple(converted), tuple(sorted(set_at)),
                      tuple(unconverted))


# --- comparing one lead's value with another's, or with an amount --------------------------
#
# Values in different currencies are compared in the base currency, each converted at the
# workspace's rate and rounded to whole cents (half away from zero, as SQL's ROUND does), so
# a lead shown as "≈ €612" is at least €612. A value in a currency with no rate to the base
# cannot be compared: it is *left out* (no filter or condition on an amount matches it, and a
# sort by value puts it last, with the leads that have no value), never read as if it were base.

def cents_in_base(cents: int | None, currency: str | None, rates: Rates) -> int | None:
    """A value in the base currency's whole cents; None when there is no value or no rate."""
    if cents is None:
        return None
    if currency == rates.base:
        return int(cents)
    rate = rates.get(currency or "")
    if rate is None:
        return None
    return int((Decimal(cents) * rate.rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents_in_base_sql(rates: Rates, cents, currency):
    """``cents_in_base`` as a SQL expression over the given columns (a lead's ``value_cents`` and
    ``currency``): a CASE over the few currencies that have a rate, NULL for the others. The
    same on SQLite and PG."""
    # A rate is a Decimal read from our own table and written out as digits: safe as a literal,
    # and exact on PostgreSQL (bigint × numeric).
    whens = [(currency == rates.base, cents)]
    whens += [(currency == code, func.round(cents * literal_column(format(rate.rate, "f"))))
              for code, rate in sorted(rates.by_currency.items()) if code != rates.base]
    return case(*whens, else_=null())


@dataclass(frozen=True)
class ValueInBase:
    """How one lead's value reads beside its own: its converted cents and the rate used (or
    no rate, and then ``cents`` is None). Only made for a value in another currency than the base."""

    base: str
    currency: str
    cents: int | None
    rate: Rate | None

    def short_text(self) -> str:
        """What shows beside the value: "≈ $19,140 USD", or "no rate to USD"."""
        return f"≈ {money(self.cents, self.base)} {self.base}" if self.rate else f"no rate to {self.base}"

    def title(self, zone: tzinfo) -> str:
        """The rate it was converted at (with the reader's day it was set), or why it was not."""
        if self.rate:
            return (f"Converted to {self.base}, the base currency, at {self.rate.rate} "
                    f"set {format_day(self.rate.set_at, zone)}")
        return (f"No exchange rate from {self.currency} to {self.base}: this value is left out of "
                "comparisons and totals")


def lead_value_in_base(cents: int | None, currency: str | None, rates: Rates) -> ValueInBase | None:
    """None when the lead has no value or its value is already in the base currency."""
    if cents is None or not currency or currency == rates.base:
        return None
    return ValueInBase(rates.base, currency, cents_in_base(cents, currency, rates), rates.get(currency))


# --- what admins change ------------------------------------------------------------------------

def set_base_currency(actor, currency: str) -> None:
    if currency not in CURRENCIES:
        raise ValidationFailed({"base_currency": ["Choose a currency from the list."]})
    set_setting(actor, "base_currency", currency)


def parse_rate(raw: str) -> Decimal | None:
    """A rate as typed ("1.08"); blank is None (no rate). Raises ValueError with what to type."""
    text = (raw or "").strip()
    if not text:
        return None
    if "," in text:
        raise ValueError("Use a point for decimals, for example 1.08.")
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError("Enter a number, for example 1.08.") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError("Enter a rate above zero.")
    if rate >= RATE_LIMIT:
        raise ValueError("Enter a rate below 10,000,000.")
    if -rate.normalize().as_tuple().exponent > RATE_DECIMALS:
        raise ValueError(f"Use at most {RATE_DECIMALS} digits after the point.")
    return rate


def rate_currencies(base: str) -> list[str]:
    """Currencies a rate can be set for: the known ones and any the leads use, minus the base."""
    used = db.session.scalars(db.select(StageCurrencyTotals.currency).distinct())
    return sorted((set(CURRENCIES) | set(used)) - {base})


def set_rates(actor, typed: Mapping[str, str]) -> list[str]:
    """Save the rates to the base currency typed for some currencies ({"EUR": "1.08"}; blank
    removes a rate). Every error is reported at once and nothing is saved. Returns the
    currencies whose rate changed."""
    base = base_currency()
    allowed = set(rate_currencies(base))
    wanted, errors = {}, {}
    for currency, raw in typed.items():
        if currency not in allowed:
            errors[currency] = [f"{currency} is not a currency a rate can be set for."]
            continue
        try:
            wanted[currency] = parse_rate(raw)
        except ValueError as exc:
            errors[currency] = [str(exc)]
    if errors:
        raise ValidationFailed(errors)
    rows = {row.currency: row for row in db.session.scalars(
        db.select(ExchangeRate).where(ExchangeRate.base_currency == base, ExchangeRate.currency.in_(list(wanted))))}
    changed = []
    for currency, rate in sorted(wanted.items()):
        row = rows.get(currency)
        old = None if row is None else Decimal(row.rate).normalize()
        if old == (None if rate is None else rate.normalize()):
            continue
        if rate is None:
            db.session.delete(row)
        elif row is None:
            db.session.add(ExchangeRate(base_currency=base, currency=currency, rate=rate,
                                        set_by_id=getattr(actor, "id", None)))
        else:
            row.rate, row.set_at, row.set_by_id = rate, utcnow(), getattr(actor, "id", None)
        record_changes(actor, "exchange_rate", 0, {f"1 {currency} in {base}": old},
                       {f"1 {currency} in {base}": None if rate is None else rate.normalize()})
        changed.append(currency)
    transaction_cache("exchange rates").clear()
    return changed


def rate_rows(typed: Mapping[str, str] | None = None, errors: Mapping[str, list[str]] | None = None) -> list[dict]:
    """The rates page: one row a currency, with its rate, when and by whom it was set, and
    (after a refused save) what was typed and what was wrong with it."""
    rates = current_rates()
    typed, errors = typed or {}, errors or {}
    rows = []
    for currency in rate_currencies(rates.base):
        rate = rates.get(currency)
        shown = "" if rate is None else format(rate.rate, "f")
        rows.append({"currency": currency, "rate": rate, "value": typed.get(currency, shown),
                     "errors": errors.get(currency, [])})
    return rows
