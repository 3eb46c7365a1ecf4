"""Exact money arithmetic for positions: a wide local context and a fixed quantum.

Decimal's default context keeps 28 digits; the product of a 12-decimal price and a
12-decimal quantity already needs more. Every product and sum here runs in a
100-digit context that traps inexact results, so it is exact or it raises. The
only rounding is of pro-rata shares (divisions), to ``SHARE_QUANTUM``; the last
share of anything takes the remainder, so sums stay exact.
"""

from __future__ import annotations

from decimal import (ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, Overflow,
                     getcontext, setcontext)

SHARE_QUANTUM = Decimal("1e-18")
EXACT = Context(prec=100, Emax=999_999, Emin=-999_999,
                traps=[Inexact, InvalidOperation, Overflow])
ROUNDING = Context(prec=100, Emax=999_999, Emin=-999_999, rounding=ROUND_HALF_EVEN,
                   traps=[InvalidOperation, Overflow])
ZERO = Decimal(0)
ONE = Decimal(1)


class exact:
    """``with exact():`` makes every operation inside exact or an error.

    It switches the thread's context to EXACT itself and back (a tenth of the cost of
    ``localcontext``, which copies it; positions run it per fill). Nothing inside may
    change the context's settings: only its flags change, which nothing reads."""

    __slots__ = ("saved",)

    saved: Context

    def __enter__(self) -> None:
        self.saved = getcontext()
        setcontext(EXACT)

    def __exit__(self, *exc: object) -> None:
        setcontext(self.saved)


# The functions below run several times per fill. They call the contexts' methods
# (EXACT.normalize(v)), which do what v.normalize(context=EXACT) does at half the cost
# of passing the context by keyword.

def tidy(value: Decimal) -> Decimal:
    """A computed amount without trailing zeros (``2.500`` -> ``2.5``; zero -> ``0``)."""
    text = str(value)
    if text[-1] != "0" and "E" not in text:  # plain, no trailing zero: tidy (and not zero)
        return value
    if value.is_zero():
        return ZERO
    value = EXACT.normalize(value)
    # normalized, its exponent is > 0 exactly when str() writes it as ``dE+n`` (1E+3)
    return EXACT.quantize(value, ONE) if "E+" in str(value) else value


def share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``total * part / whole`` rounded to the share quantum (the only rounding we do)."""
    if part == whole:
        return total
    quotient = ROUNDING.divide(ROUNDING.multiply(total, part), whole)
    return tidy(ROUNDING.quantize(quotient, SHARE_QUANTUM))


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """A derived price (average entry, average fill) for display, to the share quantum."""
    if denominator == 0:
        return None
    return tidy(ROUNDING.quantize(ROUNDING.divide(numerator, denominator), SHARE_QUANTUM))
