//! Business Central date formulas as used by payment terms (`14D`, `1M`, `2W`, `1Y`, `CM`,
//! `CM+10D`, `1M+CM`): a pure function from a formula and a date to a date.

use chrono::{Datelike, Days, Months, NaiveDate};

/// Applies `formula` to `date`; `None` when the formula cannot be read. Terms are added left to
/// right: `<n>D` days, `<n>W` weeks, `<n>M` months, `<n>Y` years (each may be negative, e.g.
/// `-1D`), `CM` the end of the current month.
pub fn apply(formula: &str, date: NaiveDate) -> Option<NaiveDate> {
    let f: String =
        formula.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    if f.is_empty() {
        return Some(date);
    }
    let mut d = date;
    let mut rest = f.as_str();
    let mut first = true;
    while !rest.is_empty() {
        let negative = if let Some(r) = rest.strip_prefix('-') {
            rest = r;
            true
        } else if let Some(r) = rest.strip_prefix('+') {
            rest = r;
            false
        } else if first {
            false
        } else {
            return None;
        };
        first = false;
        if let Some(r) = rest.strip_prefix("CM") {
            if negative {
                return None;
            }
            d = end_of_month(d)?;
            rest = r;
            continue;
        }
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u32 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        rest = &rest[digits + unit.len_utf8()..];
        d = match (unit, negative) {
            ('D', false) => d.checked_add_days(Days::new(n.into()))?,
            ('D', true) => d.checked_sub_days(Days::new(n.into()))?,
            ('W', false) => d.checked_add_days(Days::new(u64::from(n) * 7))?,
            ('W', true) => d.checked_sub_days(Days::new(u64::from(n) * 7))?,
            ('M', false) => d.checked_add_months(Months::new(n))?,
            ('M', true) => d.checked_sub_months(Months::new(n))?,
            ('Y', false) => d.checked_add_months(Months::new(n.checked_mul(12)?))?,
            ('Y', true) => d.checked_sub_months(Months::new(n.checked_mul(12)?))?,
            _ => return None,
        };
    }
    Some(d)
}

fn end_of_month(d: NaiveDate) -> Option<NaiveDate> {
    let first_next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)?
    };
    first_next.pred_opt()
}

#[cfg(test)]
mod tests {
    use super::apply;
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn payment_terms_formulas_move_the_date() {
        let d = day("2026-01-31");
        assert_eq!(apply("14D", d), Some(day("2026-02-14")));
        assert_eq!(apply("2W", d), Some(day("2026-02-14")));
        assert_eq!(apply("1M", d), Some(day("2026-02-28")));
        assert_eq!(apply("1Y", d), Some(day("2027-01-31")));
        assert_eq!(apply("CM", day("2026-02-10")), Some(day("2026-02-28")));
        assert_eq!(apply("CM+10D", day("2026-02-10")), Some(day("2026-03-10")));
        assert_eq!(apply("1M+CM", day("2026-11-15")), Some(day("2026-12-31")));
        assert_eq!(apply("-1D", d), Some(day("2026-01-30")));
        assert_eq!(apply(" 30d ", d), Some(day("2026-03-02")));
        assert_eq!(apply("", d), Some(d));
    }

    #[test]
    fn unreadable_formulas_are_refused() {
        let d = day("2026-01-31");
        for f in ["D", "14", "14X", "1M1D", "-CM", "CMX", "99999999999D"] {
            assert_eq!(apply(f, d), None, "{f}");
        }
    }
}
