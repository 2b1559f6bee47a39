//! Number series: `next` hands out the next number of a series (BC's `IncStr` on the last number
//! used) inside the caller's transaction, so a rolled-back write gives its number back.

use kontor_store::Tx;
use kontor_store::sea_query::Value;

use crate::error::FinError;

/// Series codes.
pub mod series {
    pub const CUSTOMERS: &str = "CUST";
    pub const CONTACTS: &str = "CONT";
    pub const ITEMS: &str = "ITEM";
    pub const RESOURCES: &str = "RES";
    pub const SALES_ORDERS: &str = "S-ORD";
    pub const POSTED_SALES_INVOICES: &str = "S-INV+";
    pub const ITEM_LEDGER_ENTRIES: &str = "ILE";
    pub const CUSTOMER_LEDGER_ENTRIES: &str = "CLE";
}

/// Increments the right-most run of digits, keeping its width (`C00019` → `C00020`,
/// `S-ORD101001` → `S-ORD101002`); `None` when there are no digits or the run would overflow
/// its width (`C99` has no successor), as in Business Central.
pub fn increment(no: &str) -> Option<String> {
    let bytes = no.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
    let start = bytes[..end].iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |i| i + 1);
    let mut digits: Vec<u8> = bytes[start..end].to_vec();
    let mut i = digits.len();
    loop {
        if i == 0 {
            return None;
        }
        i -= 1;
        if digits[i] == b'9' {
            digits[i] = b'0';
        } else {
            digits[i] += 1;
            break;
        }
    }
    let mut out = String::with_capacity(no.len());
    out.push_str(&no[..start]);
    out.push_str(std::str::from_utf8(&digits).ok()?);
    out.push_str(&no[end..]);
    Some(out)
}

/// Reads `series`, computes its next number from (last number used, starting number) with
/// `step`, and records it as used in `tx`.
async fn advance(
    tx: &mut Tx,
    series: &str,
    step: impl FnOnce(Option<String>, String) -> Result<String, FinError>,
) -> Result<String, FinError> {
    let row = tx
        .fetch_optional_sql(
            "SELECT starting_no, last_no_used FROM fin_no_series WHERE code = $1",
            vec![Value::from(series.to_owned())],
        )
        .await?
        .ok_or_else(|| FinError::internal(format!("number series {series} is missing")))?;
    let next = step(
        row.try_get::<Option<String>>("last_no_used")?,
        row.try_get::<String>("starting_no")?,
    )?;
    tx.execute_sql(
        "UPDATE fin_no_series SET last_no_used = $1 WHERE code = $2",
        vec![Value::from(next.clone()), Value::from(series.to_owned())],
    )
    .await?;
    Ok(next)
}

/// The next number of `series`, recorded as used in `tx`.
pub async fn next(tx: &mut Tx, series: &str) -> Result<String, FinError> {
    advance(tx, series, |last, starting| match last {
        None => Ok(starting),
        Some(last) => increment(&last).ok_or_else(|| {
            FinError::invalid(
                "number",
                format!(
                    "The number series {series} has no number after {last}. Extend the series."
                ),
            )
        }),
    })
    .await
}

/// The next ledger entry number: an integer series with no width (entry 9 is followed by 10).
pub async fn next_entry_no(tx: &mut Tx, series: &str) -> Result<i64, FinError> {
    let numeric = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| FinError::internal(format!("number series {series} is not numeric")))
    };
    let next = advance(tx, series, |last, starting| match last {
        None => Ok(starting),
        Some(last) => numeric(&last)?
            .checked_add(1)
            .map(|n| n.to_string())
            .ok_or_else(|| FinError::internal(format!("number series {series} is exhausted"))),
    })
    .await?;
    numeric(&next)
}

#[cfg(test)]
mod tests {
    use super::increment;

    #[test]
    fn the_rightmost_digits_are_incremented_keeping_their_width() {
        assert_eq!(increment("C00019").as_deref(), Some("C00020"));
        assert_eq!(increment("S-ORD101001").as_deref(), Some("S-ORD101002"));
        assert_eq!(increment("1").as_deref(), Some("2"));
        assert_eq!(increment("9").as_deref(), None);
        assert_eq!(increment("A10-X").as_deref(), Some("A11-X"));
        assert_eq!(increment("ABC"), None);
        assert_eq!(increment("C99"), None);
        assert_eq!(increment("C0999").as_deref(), Some("C1000"));
    }
}
