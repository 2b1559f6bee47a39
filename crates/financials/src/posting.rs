//! Posting a sales order (ship and invoice), in two steps:
//! 1. [`plan`] — a pure function from a snapshot of the order, its customer and items to the rows
//!    posting writes (item ledger entries, a customer ledger entry, a posted invoice with lines) and
//!    the changes of inventory and balance, or a [`PostingError`] that says why nothing is posted;
//! 2. `apply` (in `service`) writes the plan in one store transaction.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

/// Namespace of the ids posting derives (UUIDv5), so a plan is deterministic.
const POSTING_NAMESPACE: Uuid = Uuid::from_u128(0x6b6f_6e74_6f72_5f70_6f73_7469_6e67_0001);

/// Customer `blocked` values (BC captions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Blocked {
    None,
    Ship,
    Invoice,
    All,
}

impl Blocked {
    pub const CAPTIONS: [&'static str; 4] = [" ", "Ship", "Invoice", "All"];
    pub fn parse(s: &str) -> Option<Blocked> {
        match s {
            "" | " " => Some(Blocked::None),
            "Ship" => Some(Blocked::Ship),
            "Invoice" => Some(Blocked::Invoice),
            "All" => Some(Blocked::All),
            _ => None,
        }
    }
    pub fn caption(self) -> &'static str {
        match self {
            Blocked::None => " ",
            Blocked::Ship => "Ship",
            Blocked::Invoice => "Invoice",
            Blocked::All => "All",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LineType {
    Comment,
    Item,
    Resource,
}

impl LineType {
    pub const CAPTIONS: [&'static str; 3] = ["Comment", "Item", "Resource"];
    pub fn parse(s: &str) -> Option<LineType> {
        match s {
            "Comment" => Some(LineType::Comment),
            "Item" => Some(LineType::Item),
            "Resource" => Some(LineType::Resource),
            _ => None,
        }
    }
    pub fn caption(self) -> &'static str {
        match self {
            LineType::Comment => "Comment",
            LineType::Item => "Item",
            LineType::Resource => "Resource",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderSnapshot {
    pub id: Uuid,
    pub number: String,
    pub external_document_number: Option<String>,
    pub order_date: Option<NaiveDate>,
    pub posting_date: Option<NaiveDate>,
    pub currency_code: Option<String>,
    pub salesperson: Option<String>,
    /// The invoice discount amount of the whole order.
    pub discount_amount: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerSnapshot {
    pub id: Uuid,
    pub number: String,
    pub name: Option<String>,
    pub blocked: Blocked,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineSnapshot {
    pub id: Uuid,
    pub sequence: i64,
    pub line_type: LineType,
    pub item_id: Option<Uuid>,
    pub object_number: Option<String>,
    pub description: Option<String>,
    pub unit_of_measure_code: Option<String>,
    /// Base units per unit of the line's unit of measure (1 for the base unit).
    pub qty_per_unit_of_measure: Decimal,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount_amount: Decimal,
    pub discount_percent: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemSnapshot {
    pub id: Uuid,
    pub number: String,
    /// "Inventory", "Service" or "Non-Inventory": only inventory items move stock.
    pub item_type: String,
    pub blocked: bool,
    pub prevent_negative_inventory: bool,
    pub inventory: Decimal,
    pub unit_cost: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceSnapshot {
    pub number: String,
    pub blocked: bool,
}

/// Everything posting looks at.
#[derive(Debug, Clone, Serialize)]
pub struct PostingInput {
    pub order: OrderSnapshot,
    pub customer: CustomerSnapshot,
    pub lines: Vec<LineSnapshot>,
    pub items: BTreeMap<Uuid, ItemSnapshot>,
    pub resources: BTreeMap<String, ResourceSnapshot>,
    /// The posted invoice's number (from the `S-INV+` series).
    pub invoice_number: String,
    /// The first free entry numbers of the two ledgers.
    pub first_item_entry_no: i64,
    pub first_customer_entry_no: i64,
    /// Used when the order has no posting date.
    pub today: NaiveDate,
    /// For an order in a foreign currency: units of that currency per unit of the local
    /// currency (the currency's `exchangeRate`); balances are kept in the local currency.
    pub currency_factor: Option<Decimal>,
    /// The customer's payment terms' due date formula (`14D`, `CM`…); none: due at posting.
    pub due_date_formula: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostedInvoice {
    pub id: Uuid,
    pub number: String,
    pub external_document_number: Option<String>,
    pub invoice_date: NaiveDate,
    pub posting_date: NaiveDate,
    pub due_date: NaiveDate,
    pub customer_id: Uuid,
    pub customer_number: String,
    pub customer_name: Option<String>,
    pub currency_code: Option<String>,
    pub salesperson: Option<String>,
    pub order_id: Uuid,
    pub order_number: String,
    pub discount_amount: Decimal,
    pub total_amount_excluding_tax: Decimal,
    pub total_tax_amount: Decimal,
    pub total_amount_including_tax: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostedInvoiceLine {
    pub id: Uuid,
    pub document_id: Uuid,
    pub sequence: i64,
    pub line_type: LineType,
    pub item_id: Option<Uuid>,
    pub object_number: Option<String>,
    pub description: Option<String>,
    pub unit_of_measure_code: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount_amount: Decimal,
    pub discount_percent: Decimal,
    pub amount_excluding_tax: Decimal,
    pub unit_cost: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemLedgerEntry {
    pub id: Uuid,
    pub entry_number: i64,
    pub item_id: Uuid,
    pub item_number: String,
    pub posting_date: NaiveDate,
    pub source_number: String,
    pub document_number: String,
    pub description: Option<String>,
    pub unit_of_measure_code: Option<String>,
    /// In base units, negative for a sale.
    pub quantity: Decimal,
    pub sales_amount_actual: Decimal,
    pub cost_amount_actual: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerLedgerEntry {
    pub id: Uuid,
    pub entry_number: i64,
    pub customer_id: Uuid,
    pub customer_number: String,
    pub posting_date: NaiveDate,
    pub document_number: String,
    pub description: String,
    pub currency_code: Option<String>,
    pub amount: Decimal,
    /// The amount in the local currency.
    pub amount_lcy: Decimal,
}

/// What posting writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostingPlan {
    pub invoice: PostedInvoice,
    pub invoice_lines: Vec<PostedInvoiceLine>,
    pub item_entries: Vec<ItemLedgerEntry>,
    pub customer_entry: CustomerLedgerEntry,
    /// Per item: the change of inventory (negative) and the inventory after posting.
    pub inventory_changes: BTreeMap<Uuid, (Decimal, Decimal)>,
    /// The customer's balance (local currency) goes up by this much.
    pub balance_change: Decimal,
    /// The order and these lines are deleted (fully shipped and invoiced).
    pub order_id: Uuid,
    pub order_line_ids: Vec<Uuid>,
}

/// Why an order cannot be posted; nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error(
        "There is nothing to post because the sales order {order} has no lines with a quantity."
    )]
    NothingToPost { order: String },
    #[error(
        "You cannot ship and invoice the sales order {order} because customer {customer} is blocked with type '{blocked}'."
    )]
    CustomerBlocked { order: String, customer: String, blocked: String },
    #[error("Item {item} is blocked.")]
    ItemBlocked { item: String },
    #[error("Resource {resource} is blocked.")]
    ResourceBlocked { resource: String },
    #[error(
        "Line {sequence} of sales order {order} refers to an item or resource that does not exist."
    )]
    MissingLineObject { order: String, sequence: i64 },
    #[error(
        "The invoice discount {discount} of sales order {order} is larger than its amount {amount}."
    )]
    DiscountTooLarge { order: String, discount: Decimal, amount: Decimal },
    #[error(
        "You have insufficient quantity of Item {item} on inventory: {available} available, {needed} needed. The item does not allow negative inventory."
    )]
    InsufficientInventory { item: String, available: Decimal, needed: Decimal },
}

/// Rounds an amount to cents (BC's default amount rounding precision, 0.01).
pub fn round_amount(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// The line amount: quantity × unit price, less the line discount (the percent wins when set).
/// Returns (discount amount, amount excluding tax).
pub fn line_amount(
    quantity: Decimal,
    unit_price: Decimal,
    discount_percent: Decimal,
    discount_amount: Decimal,
) -> (Decimal, Decimal) {
    let gross = round_amount(quantity * unit_price);
    let discount = if discount_percent.is_zero() {
        discount_amount
    } else {
        round_amount(gross * discount_percent / Decimal::ONE_HUNDRED)
    };
    (discount, gross - discount)
}

fn derived_id(parent: Uuid, what: &str) -> Uuid {
    let mut name = parent.as_bytes().to_vec();
    name.extend_from_slice(what.as_bytes());
    Uuid::new_v5(&POSTING_NAMESPACE, &name)
}

/// Computes what shipping and invoicing the order writes, or why it cannot be posted.
pub fn plan(input: &PostingInput) -> Result<PostingPlan, PostingError> {
    let order = &input.order;
    if input.customer.blocked != Blocked::None {
        return Err(PostingError::CustomerBlocked {
            order: order.number.clone(),
            customer: input.customer.number.clone(),
            blocked: input.customer.blocked.caption().to_owned(),
        });
    }
    let posting_date = order.posting_date.unwrap_or(input.today);
    let mut lines: Vec<&LineSnapshot> = input.lines.iter().collect();
    lines.sort_by_key(|l| l.sequence);
    if !lines.iter().any(|l| l.line_type != LineType::Comment && !l.quantity.is_zero()) {
        return Err(PostingError::NothingToPost { order: order.number.clone() });
    }

    let invoice_id = derived_id(order.id, "invoice");
    let mut invoice_lines = Vec::new();
    let mut item_entries = Vec::new();
    let mut needed: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    let mut total = Decimal::ZERO;
    let mut next_entry = input.first_item_entry_no;

    for line in &lines {
        let (discount, amount) = line_amount(
            line.quantity,
            line.unit_price,
            line.discount_percent,
            line.discount_amount,
        );
        let mut unit_cost = Decimal::ZERO;
        match line.line_type {
            LineType::Comment => {}
            LineType::Item => {
                let item = line.item_id.and_then(|id| input.items.get(&id)).ok_or(
                    PostingError::MissingLineObject {
                        order: order.number.clone(),
                        sequence: line.sequence,
                    },
                )?;
                if item.blocked {
                    return Err(PostingError::ItemBlocked { item: item.number.clone() });
                }
                unit_cost = item.unit_cost;
                let base_qty = line.quantity * line.qty_per_unit_of_measure;
                if item.item_type == "Inventory" && !base_qty.is_zero() {
                    *needed.entry(item.id).or_default() += base_qty;
                    item_entries.push(ItemLedgerEntry {
                        id: derived_id(line.id, "item-ledger-entry"),
                        entry_number: next_entry,
                        item_id: item.id,
                        item_number: item.number.clone(),
                        posting_date,
                        source_number: input.customer.number.clone(),
                        document_number: input.invoice_number.clone(),
                        description: line.description.clone(),
                        unit_of_measure_code: line.unit_of_measure_code.clone(),
                        quantity: -base_qty,
                        sales_amount_actual: amount,
                        cost_amount_actual: -round_amount(base_qty * item.unit_cost),
                    });
                    next_entry += 1;
                }
            }
            LineType::Resource => {
                let resource =
                    line.object_number.as_ref().and_then(|n| input.resources.get(n)).ok_or(
                        PostingError::MissingLineObject {
                            order: order.number.clone(),
                            sequence: line.sequence,
                        },
                    )?;
                if resource.blocked {
                    return Err(PostingError::ResourceBlocked {
                        resource: resource.number.clone(),
                    });
                }
            }
        }
        total += amount;
        invoice_lines.push(PostedInvoiceLine {
            id: derived_id(line.id, "invoice-line"),
            document_id: invoice_id,
            sequence: line.sequence,
            line_type: line.line_type,
            item_id: line.item_id,
            object_number: line.object_number.clone(),
            description: line.description.clone(),
            unit_of_measure_code: line.unit_of_measure_code.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            discount_amount: discount,
            discount_percent: line.discount_percent,
            amount_excluding_tax: amount,
            unit_cost,
        });
    }

    let mut inventory_changes = BTreeMap::new();
    for (item_id, qty) in needed {
        let item = &input.items[&item_id];
        let after = item.inventory - qty;
        if item.prevent_negative_inventory && after.is_sign_negative() && !after.is_zero() {
            return Err(PostingError::InsufficientInventory {
                item: item.number.clone(),
                available: item.inventory.normalize(),
                needed: qty.normalize(),
            });
        }
        inventory_changes.insert(item_id, (-qty, after));
    }

    if order.discount_amount > total {
        return Err(PostingError::DiscountTooLarge {
            order: order.number.clone(),
            discount: order.discount_amount.normalize(),
            amount: total.normalize(),
        });
    }
    let total = total - order.discount_amount;
    let invoice = PostedInvoice {
        id: invoice_id,
        number: input.invoice_number.clone(),
        external_document_number: order.external_document_number.clone(),
        invoice_date: posting_date,
        posting_date,
        due_date: input
            .due_date_formula
            .as_deref()
            .and_then(|f| crate::date_formula::apply(f, posting_date))
            .unwrap_or(posting_date),
        customer_id: input.customer.id,
        customer_number: input.customer.number.clone(),
        customer_name: input.customer.name.clone(),
        currency_code: order.currency_code.clone(),
        salesperson: order.salesperson.clone(),
        order_id: order.id,
        order_number: order.number.clone(),
        discount_amount: order.discount_amount,
        total_amount_excluding_tax: total,
        total_tax_amount: Decimal::ZERO,
        total_amount_including_tax: total,
    };
    let amount_lcy =
        match input.currency_factor.filter(|f| order.currency_code.is_some() && !f.is_zero()) {
            Some(factor) => round_amount(total / factor),
            None => total,
        };
    let customer_entry = CustomerLedgerEntry {
        id: derived_id(order.id, "customer-ledger-entry"),
        entry_number: input.first_customer_entry_no,
        customer_id: input.customer.id,
        customer_number: input.customer.number.clone(),
        posting_date,
        document_number: input.invoice_number.clone(),
        description: format!("Order {}", order.number),
        currency_code: order.currency_code.clone(),
        amount: total,
        amount_lcy,
    };
    Ok(PostingPlan {
        invoice,
        invoice_lines,
        item_entries,
        customer_entry,
        inventory_changes,
        balance_change: amount_lcy,
        order_id: order.id,
        order_line_ids: lines.iter().map(|l| l.id).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn input() -> PostingInput {
        let item = |n: u128, no: &str, inv: Decimal, prevent: bool| ItemSnapshot {
            id: id(n),
            number: no.to_owned(),
            item_type: "Inventory".to_owned(),
            blocked: false,
            prevent_negative_inventory: prevent,
            inventory: inv,
            unit_cost: d("4.5"),
        };
        let line = |n: u128, seq: i64, item: u128, qty: Decimal, price: Decimal| LineSnapshot {
            id: id(n),
            sequence: seq,
            line_type: LineType::Item,
            item_id: Some(id(item)),
            object_number: None,
            description: Some(format!("line {seq}")),
            unit_of_measure_code: Some("PCS".to_owned()),
            qty_per_unit_of_measure: Decimal::ONE,
            quantity: qty,
            unit_price: price,
            discount_amount: Decimal::ZERO,
            discount_percent: Decimal::ZERO,
        };
        let mut lines = vec![
            line(0x21, 10000, 0x11, d("3"), d("10.25")),
            line(0x22, 20000, 0x12, d("2"), d("99.99")),
            line(0x23, 30000, 0x11, d("1"), d("10")),
        ];
        lines[1].discount_percent = d("10");
        lines[2].unit_of_measure_code = Some("BOX".to_owned());
        lines[2].qty_per_unit_of_measure = d("6");
        PostingInput {
            order: OrderSnapshot {
                id: id(0x01),
                number: "S-ORD101001".to_owned(),
                external_document_number: Some("PO-7".to_owned()),
                order_date: NaiveDate::from_ymd_opt(2026, 11, 20),
                posting_date: None,
                currency_code: None,
                salesperson: Some("PS".to_owned()),
                discount_amount: Decimal::ZERO,
            },
            customer: CustomerSnapshot {
                id: id(0x02),
                number: "C00010".to_owned(),
                name: Some("Adatum".to_owned()),
                blocked: Blocked::None,
            },
            lines,
            items: [item(0x11, "1000", d("20"), true), item(0x12, "1001", d("1"), false)]
                .into_iter()
                .map(|i| (i.id, i))
                .collect(),
            resources: BTreeMap::new(),
            invoice_number: "103001".to_owned(),
            first_item_entry_no: 7,
            first_customer_entry_no: 3,
            today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            currency_factor: None,
            due_date_formula: None,
        }
    }

    #[test]
    fn posting_an_order_plans_ledger_entries_and_an_invoice() {
        let plan = plan(&input()).unwrap();
        insta::assert_json_snapshot!(plan);
    }

    #[test]
    fn the_balance_rises_by_the_sum_of_the_line_amounts() {
        let plan = plan(&input()).unwrap();
        // 3 × 10.25 + (2 × 99.99 − 10 %) + 1 × 10 = 30.75 + 179.98 + 10
        assert_eq!(plan.balance_change, d("220.73"));
        assert_eq!(plan.customer_entry.amount, d("220.73"));
        assert_eq!(plan.invoice.total_amount_including_tax, d("220.73"));
        // item 1000: 3 + 1 box of 6 = 9 out of 20; item 1001 may go negative.
        assert_eq!(plan.inventory_changes[&id(0x11)], (d("-9"), d("11")));
        assert_eq!(plan.inventory_changes[&id(0x12)], (d("-2"), d("-1")));
    }

    #[test]
    fn an_item_that_forbids_negative_inventory_stops_the_posting() {
        let mut i = input();
        i.items.get_mut(&id(0x12)).unwrap().prevent_negative_inventory = true;
        let err = plan(&i).unwrap_err();
        assert_eq!(
            err,
            PostingError::InsufficientInventory {
                item: "1001".into(),
                available: d("1"),
                needed: d("2")
            }
        );
        assert!(err.to_string().contains("insufficient quantity of Item 1001"));
    }

    #[test]
    fn a_blocked_customer_cannot_be_invoiced() {
        let mut i = input();
        i.customer.blocked = Blocked::Invoice;
        let err = plan(&i).unwrap_err();
        assert!(
            err.to_string().contains("customer C00010 is blocked with type 'Invoice'"),
            "{err}"
        );
    }

    #[test]
    fn an_order_without_quantities_has_nothing_to_post() {
        let mut i = input();
        for l in &mut i.lines {
            l.quantity = Decimal::ZERO;
        }
        assert!(matches!(plan(&i), Err(PostingError::NothingToPost { .. })));
    }

    #[test]
    fn the_invoice_discount_lowers_the_invoice_and_the_balance() {
        let mut i = input();
        i.order.discount_amount = d("20.73");
        let plan = plan(&i).unwrap();
        assert_eq!(plan.balance_change, d("200"));
        assert_eq!(plan.invoice.total_amount_including_tax, d("200"));
        i.order.discount_amount = d("1000");
        assert!(matches!(super::plan(&i), Err(PostingError::DiscountTooLarge { .. })));
    }

    #[test]
    fn a_foreign_currency_order_raises_the_balance_in_local_currency() {
        let mut i = input();
        i.order.currency_code = Some("EUR".into());
        i.currency_factor = Some(d("0.5"));
        let plan = plan(&i).unwrap();
        assert_eq!(plan.customer_entry.amount, d("220.73"));
        assert_eq!(plan.customer_entry.amount_lcy, d("441.46"));
        assert_eq!(plan.balance_change, d("441.46"));
    }

    #[test]
    fn the_due_date_follows_the_payment_terms() {
        let mut i = input();
        i.due_date_formula = Some("CM+14D".into());
        assert_eq!(
            plan(&i).unwrap().invoice.due_date,
            NaiveDate::from_ymd_opt(2026, 12, 14).unwrap()
        );
    }

    #[test]
    fn a_blocked_item_stops_the_posting() {
        let mut i = input();
        i.items.get_mut(&id(0x11)).unwrap().blocked = true;
        assert_eq!(plan(&i).unwrap_err(), PostingError::ItemBlocked { item: "1000".into() });
    }
}
