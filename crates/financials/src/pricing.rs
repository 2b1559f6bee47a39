//! Sales prices: which unit price a sales line gets. Pure.

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// One `salesPrices` row of the item.
#[derive(Debug, Clone, PartialEq)]
pub struct SalesPrice {
    /// `None`: the price applies to all customers.
    pub customer_price_group: Option<String>,
    /// `None`: the local currency.
    pub currency_code: Option<String>,
    /// `None`: the item's base unit of measure.
    pub unit_of_measure_code: Option<String>,
    pub minimum_quantity: Decimal,
    pub unit_price: Decimal,
    pub starting_date: Option<NaiveDate>,
    pub ending_date: Option<NaiveDate>,
}

/// What the line is priced for.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceContext<'a> {
    pub customer_price_group: Option<&'a str>,
    pub currency_code: Option<&'a str>,
    pub unit_of_measure_code: &'a str,
    pub base_unit_of_measure_code: &'a str,
    pub qty_per_unit_of_measure: Decimal,
    pub quantity: Decimal,
    pub date: NaiveDate,
}

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The best (lowest) applicable sales price per unit of the line's unit of measure, or the item's
/// unit price (per base unit) times the quantity per unit of measure when none applies. A price
/// applies when its customer price group is blank or the customer's, its currency is the
/// document's, its unit of measure is the line's (blank: the base unit, scaled), the quantity
/// reaches its minimum and the date is within its period.
pub fn unit_price(
    prices: &[SalesPrice],
    item_unit_price: Decimal,
    ctx: &PriceContext<'_>,
) -> Decimal {
    let doc_currency = ctx.currency_code.map(str::trim).filter(|s| !s.is_empty());
    let fallback = item_unit_price * ctx.qty_per_unit_of_measure;
    prices
        .iter()
        .filter(|p| match blank(&p.customer_price_group) {
            None => true,
            Some(g) => ctx.customer_price_group.is_some_and(|c| c.eq_ignore_ascii_case(g)),
        })
        .filter(|p| {
            blank(&p.currency_code).map(str::to_ascii_uppercase)
                == doc_currency.map(str::to_ascii_uppercase)
        })
        .filter(|p| p.minimum_quantity <= ctx.quantity)
        .filter(|p| p.starting_date.is_none_or(|d| d <= ctx.date))
        .filter(|p| p.ending_date.is_none_or(|d| ctx.date <= d))
        .filter_map(|p| match blank(&p.unit_of_measure_code) {
            Some(u) if u.eq_ignore_ascii_case(ctx.unit_of_measure_code) => Some(p.unit_price),
            Some(_) => None,
            None if ctx
                .unit_of_measure_code
                .eq_ignore_ascii_case(ctx.base_unit_of_measure_code) =>
            {
                Some(p.unit_price)
            }
            None => Some(p.unit_price * ctx.qty_per_unit_of_measure),
        })
        .min()
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }
    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn price(group: Option<&str>, min: &str, price: &str) -> SalesPrice {
        SalesPrice {
            customer_price_group: group.map(str::to_owned),
            currency_code: None,
            unit_of_measure_code: None,
            minimum_quantity: d(min),
            unit_price: d(price),
            starting_date: None,
            ending_date: None,
        }
    }
    fn ctx(qty: &str) -> PriceContext<'static> {
        PriceContext {
            customer_price_group: Some("RETAIL"),
            currency_code: None,
            unit_of_measure_code: "PCS",
            base_unit_of_measure_code: "PCS",
            qty_per_unit_of_measure: Decimal::ONE,
            quantity: d(qty),
            date: day("2026-11-25"),
        }
    }

    #[test]
    fn without_prices_the_item_unit_price_is_used() {
        assert_eq!(unit_price(&[], d("12.5"), &ctx("1")), d("12.5"));
    }

    #[test]
    fn the_lowest_applicable_price_wins() {
        let prices = [
            price(None, "0", "11"),
            price(Some("RETAIL"), "10", "9"),
            price(Some("WHOLESALE"), "0", "5"),
        ];
        assert_eq!(unit_price(&prices, d("12.5"), &ctx("1")), d("11"));
        assert_eq!(unit_price(&prices, d("12.5"), &ctx("10")), d("9"));
    }

    #[test]
    fn prices_outside_their_period_or_currency_do_not_apply() {
        let mut p = price(None, "0", "7");
        p.ending_date = Some(day("2026-11-24"));
        let mut q = price(None, "0", "6");
        q.currency_code = Some("EUR".into());
        assert_eq!(unit_price(&[p, q.clone()], d("12.5"), &ctx("1")), d("12.5"));
        let mut eur = ctx("1");
        eur.currency_code = Some("eur");
        assert_eq!(unit_price(&[q], d("12.5"), &eur), d("6"));
    }

    #[test]
    fn a_box_costs_its_content_unless_it_has_its_own_price() {
        let mut c = ctx("1");
        c.unit_of_measure_code = "BOX";
        c.qty_per_unit_of_measure = d("6");
        assert_eq!(unit_price(&[], d("2"), &c), d("12"));
        let mut boxed = price(None, "0", "10");
        boxed.unit_of_measure_code = Some("BOX".into());
        assert_eq!(unit_price(&[boxed], d("2"), &c), d("10"));
    }
}
