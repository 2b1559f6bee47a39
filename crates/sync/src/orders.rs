//! Sales order integration from Sales, as Business Central's bidirectional sales order option
//! does it (domain-reference §1–2), run by SALESORDER-ORDER's recurring entry before its
//! Financials → Sales pass:
//!
//! - [`Engine::receive_sales_orders`]: a Sales order in state *Submitted*, not yet coupled, for a
//!   coupled account, with lines of coupled products, becomes a *Released* Financials sales order
//!   with its lines (priced by Financials), created as the integration user (the connection has
//!   no separate designated sales order user yet); the Sales order's name becomes the External
//!   Document No.; its ship-to, requested delivery date and discount are carried over; the order
//!   and its lines are coupled; the Financials order number is written
//!   back to the Sales order (`kontor_financialsordernumber`). An order that cannot be created
//!   fails naming the record, leaves nothing in Financials (a partly written order is deleted
//!   again), and is tried again on every run until it goes through (a skipped one silently,
//!   without a new error, while its message stays the same).
//! - [`Engine::settle_posted_orders`]: a posted sales invoice of a coupled order (Post Ship and
//!   Invoice removes the Financials order) sets the Sales order *Invoiced* — shipping and
//!   invoicing are one posting here, so *Fulfilled* is passed at once — and removes the order's
//!   couplings, so the removal is no "coupled to a deleted record" error.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::connector::{
    Change, Cursor, Record, Row, Side, TableRef, WriteBatch, WriteOp, WriteOutcome,
};
use crate::engine::Engine;
use crate::error::SyncError;
use crate::ids::target_id;
use crate::mapping::Pass;
use crate::page::{PageRecord, SynchError};
use crate::plan::Counters;

/// The sales order mapping.
pub const ORDERS: &str = "SALESORDER-ORDER";
/// The sales order line mapping.
pub const LINES: &str = "SOLINE-ORDERDETAIL";
/// Watermark key of the posted invoices read by [`Engine::settle_posted_orders`].
const POSTED: &str = "SALESORDER-ORDER/posted invoices";
/// `salesorder.statecode` Submitted.
pub const SUBMITTED: i64 = 1;
/// `salesorder.statecode` Invoiced.
pub const INVOICED: i64 = 4;

fn orders_table() -> TableRef {
    TableRef::new("salesorders", "salesorderid")
}
fn details_table() -> TableRef {
    TableRef::new("salesorderdetails", "salesorderdetailid")
}
fn fin_orders() -> TableRef {
    TableRef::new("salesOrders", "id")
}
fn fin_lines() -> TableRef {
    TableRef::new("salesOrderLines", "id")
}

fn text<'a>(r: &'a Record, f: &str) -> Option<&'a str> {
    r.get(f).and_then(Value::as_str).filter(|s| !s.is_empty())
}
fn guid(r: &Record, f: &str) -> Option<Uuid> {
    text(r, f).and_then(|s| Uuid::parse_str(s).ok())
}

/// What one submitted order became.
enum Received {
    Created,
    /// Refused, with the message naming the record.
    Failed(String),
}

impl Engine {
    /// Creates the Financials orders of Sales orders submitted since the last run (and of those
    /// that failed before). See the module docs. Does nothing while SALESORDER-ORDER is disabled.
    pub async fn receive_sales_orders(&self) -> Result<Counters, SyncError> {
        let _one_at_a_time = self.orders_lock.lock().await;
        let set = self.store.mappings().await?;
        if !set.get(ORDERS).is_some_and(|m| m.enabled) {
            return Ok(Counters::default());
        }
        // Orders changed since the last run…
        let mut cursor = match self.store.watermark(ORDERS, Side::Sales).await? {
            Some(t) => Cursor::Delta(t),
            None => Cursor::Start,
        };
        let mut candidates: HashMap<Uuid, Row> = HashMap::new();
        let delta = loop {
            let page = match self.sales.read(&orders_table(), &cursor, 500).await {
                Ok(p) => p,
                Err(crate::connector::ConnectorError::TokenExpired { .. }) => {
                    cursor = Cursor::Start;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for c in page.changes {
                match c {
                    Change::Upsert(r) => {
                        candidates.insert(r.id, r);
                    }
                    Change::Deleted(id) => {
                        candidates.remove(&id);
                    }
                }
            }
            match page.next {
                Some(n) => cursor = Cursor::Next(n),
                None => break page.delta,
            }
        };
        // …and those that failed before.
        let failed = self.store.failed_unskipped(ORDERS, Side::Sales).await?;
        let skipped: HashMap<Uuid, String> = self
            .store
            .skipped_records(ORDERS)
            .await?
            .into_iter()
            .filter(|(side, ..)| *side == Side::Sales)
            .map(|(_, id, m)| (id, m))
            .collect();
        let retry: Vec<Uuid> = failed
            .iter()
            .chain(skipped.keys())
            .filter(|id| !candidates.contains_key(id))
            .copied()
            .collect();
        if !retry.is_empty() {
            for r in self.sales.get(&orders_table(), &retry).await? {
                candidates.insert(r.id, r);
            }
        }
        let ids: Vec<Uuid> = candidates.keys().copied().collect();
        let coupled: HashSet<Uuid> = self
            .store
            .couplings_for(ORDERS, Side::Sales, &ids)
            .await?
            .iter()
            .map(|c| c.id(Side::Sales))
            .collect();
        let mut todo: Vec<Row> = candidates
            .into_values()
            .filter(|r| !coupled.contains(&r.id))
            .filter(|r| r.fields.get("statecode").and_then(Value::as_i64) == Some(SUBMITTED))
            .collect();
        todo.sort_by_key(|r| r.id);

        let mut counters = Counters::default();
        let mut record = PageRecord::default();
        let mut errors = Vec::new();
        // Orders no longer submitted (reopened, canceled) or coupled meanwhile need no retry.
        let todo_ids: HashSet<Uuid> = todo.iter().map(|r| r.id).collect();
        record.succeeded.extend(
            failed.iter().chain(skipped.keys()).filter(|id| !todo_ids.contains(id)).copied(),
        );
        for order in &todo {
            match self.receive_order(order).await? {
                Received::Created => {
                    counters.inserted += 1;
                    record.succeeded.push(order.id);
                }
                Received::Failed(message) => {
                    if skipped.get(&order.id) == Some(&message) {
                        // Still the same reason: the skipped order waits silently.
                        continue;
                    }
                    counters.failed += 1;
                    errors.push(SynchError {
                        source: format!("salesorders({})", order.id),
                        destination: "salesOrders".into(),
                        message: message.clone(),
                        at: self.clock.now(),
                    });
                    record.failed.push((order.id, message));
                }
            }
        }
        let now = self.clock.now();
        if counters != Counters::default() || !record.succeeded.is_empty() {
            let job = self
                .store
                .start_job_in_run(
                    ORDERS,
                    Pass::ToFinancials.as_str(),
                    "Synchronization",
                    crate::engine::queue_run(),
                    &[],
                    now,
                )
                .await?;
            self.store.record_page(ORDERS, Side::Sales, job, &record, now).await?;
            if counters == Counters::default() {
                self.store.delete_job(job).await?;
            } else {
                self.store.add_to_job(job, &counters, &errors).await?;
                self.store.finish_job(job, "", self.clock.now()).await?;
                tracing::info!(mapping = ORDERS, ?counters, "Submitted Sales orders received.");
            }
        }
        if let Some(d) = delta {
            self.store.set_watermark(ORDERS, Side::Sales, &d, now).await?;
        }
        Ok(counters)
    }

    /// Creates one submitted order in Financials, or says why it cannot be.
    async fn receive_order(&self, order: &Row) -> Result<Received, SyncError> {
        let name = text(&order.fields, "name").unwrap_or("").to_owned();
        let label = format!("The Sales order '{name}' ({})", order.id);
        // The account must be coupled to a customer.
        let Some(account) = guid(&order.fields, "_customerid_value") else {
            return Ok(Received::Failed(format!("{label} has no customer account.")));
        };
        let customer = self.store.couplings_for("CUSTOMER", Side::Sales, &[account]).await?;
        let Some(customer) = customer.first().map(|c| c.id(Side::Financials)) else {
            let account_name = self
                .sales
                .get(&TableRef::new("accounts", "accountid").selecting(["name"]), &[account])
                .await?
                .first()
                .and_then(|r| text(&r.fields, "name").map(str::to_owned))
                .unwrap_or_default();
            return Ok(Received::Failed(format!(
                "{label} is for the account '{account_name}' ({account}), which is not coupled to a Financials customer. Couple the account first; the order is created in Financials once it is."
            )));
        };
        // Each line's product must be coupled to an item or a resource.
        let details =
            self.sales.children(&details_table(), "_salesorderid_value", order.id).await?;
        if details.is_empty() {
            return Ok(Received::Failed(format!("{label} has no lines.")));
        }
        let mut details = details;
        details.sort_by_key(|d| {
            (
                d.fields.get("lineitemnumber").and_then(Value::as_i64).unwrap_or(i64::MAX),
                d.fields.get("sequencenumber").and_then(Value::as_i64).unwrap_or(i64::MAX),
                d.id,
            )
        });
        let products: Vec<Uuid> =
            details.iter().filter_map(|d| guid(&d.fields, "_productid_value")).collect();
        let items: HashMap<Uuid, Uuid> = self
            .store
            .couplings_for("ITEM-PRODUCT", Side::Sales, &products)
            .await?
            .iter()
            .map(|c| (c.id(Side::Sales), c.id(Side::Financials)))
            .collect();
        let resources: HashMap<Uuid, Uuid> = self
            .store
            .couplings_for("RESOURCE-PRODUCT", Side::Sales, &products)
            .await?
            .iter()
            .map(|c| (c.id(Side::Sales), c.id(Side::Financials)))
            .collect();
        let resource_numbers: HashMap<Uuid, String> = if resources.is_empty() {
            HashMap::new()
        } else {
            let ids: Vec<Uuid> = resources.values().copied().collect();
            self.financials
                .get(&TableRef::new("resources", "id").selecting(["number"]), &ids)
                .await?
                .into_iter()
                .filter_map(|r| Some((r.id, text(&r.fields, "number")?.to_owned())))
                .collect()
        };
        let document = target_id(self.settings.id, ORDERS, order.id);
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for d in &details {
            let Some(product) = guid(&d.fields, "_productid_value") else {
                let what = text(&d.fields, "productdescription")
                    .or(text(&d.fields, "salesorderdetailname"))
                    .unwrap_or("");
                problems.push(format!("the write-in product line '{what}' ({}) has no product; only products coupled to items or resources can be ordered", d.id));
                continue;
            };
            let mut fields = Record::new();
            fields.insert("documentId".into(), json!(document));
            if let Some(item) = items.get(&product) {
                fields.insert("lineType".into(), json!("Item"));
                fields.insert("itemId".into(), json!(item));
            } else if let Some(number) =
                resources.get(&product).and_then(|r| resource_numbers.get(r))
            {
                fields.insert("lineType".into(), json!("Resource"));
                fields.insert("lineObjectNumber".into(), json!(number));
            } else {
                let product_name = self
                    .sales
                    .get(&TableRef::new("products", "productid").selecting(["name"]), &[product])
                    .await?
                    .first()
                    .and_then(|r| text(&r.fields, "name").map(str::to_owned))
                    .unwrap_or_default();
                problems.push(format!("the product '{product_name}' ({product}) is not coupled to a Financials item or resource"));
                continue;
            }
            fields.insert("quantity".into(), d.fields.get("quantity").cloned().unwrap_or(json!(0)));
            if d.fields.get("ispriceoverridden") == Some(&json!(true))
                && let Some(p) = d.fields.get("priceperunit").filter(|p| !p.is_null())
            {
                fields.insert("unitPrice".into(), p.clone());
            }
            lines.push((target_id(self.settings.id, LINES, d.id), d.id, fields));
        }
        if !problems.is_empty() {
            return Ok(Received::Failed(format!(
                "{label} cannot be created in Financials: {}. Couple them first; the order is created in Financials once they are.",
                problems.join("; ")
            )));
        }

        // Header, lines, release; anything refused deletes what was written.
        let mut header = order_header(&self.store.mapping(ORDERS).await?, &order.fields);
        header.insert("customerId".into(), json!(customer));
        header.insert("externalDocumentNumber".into(), json!(name));
        if let Some(refused) =
            self.write_one(&fin_orders(), WriteOp::Upsert { id: document, fields: header }).await?
        {
            return self
                .undo(document, format!("{label}: Financials refused the order: {refused}"))
                .await;
        }
        let ops: Vec<WriteOp> = lines
            .iter()
            .map(|(id, _, fields)| WriteOp::Upsert { id: *id, fields: fields.clone() })
            .collect();
        let outcomes =
            self.financials.write(&WriteBatch { table: fin_lines(), binds: vec![], ops }).await;
        let outcomes = match outcomes {
            Ok(o) => o,
            Err(e) => {
                self.undo(document, String::new()).await?;
                return Err(e.into());
            }
        };
        if let Some((k, message)) = outcomes.iter().enumerate().find_map(|(k, o)| match o {
            WriteOutcome::Failed { message } => Some((k, message.clone())),
            WriteOutcome::Done => None,
        }) {
            let detail = lines[k].1;
            return self
                .undo(document, format!("{label}: Financials refused the line {detail}: {message}"))
                .await;
        }
        let mut release = Record::new();
        release.insert("status".into(), json!("Released"));
        if let Some(refused) =
            self.write_one(&fin_orders(), WriteOp::Upsert { id: document, fields: release }).await?
        {
            return self
                .undo(
                    document,
                    format!("{label}: Financials refused to release the order: {refused}"),
                )
                .await;
        }

        // Couple, then write the Financials number back.
        let now = self.clock.now();
        self.store.couple(ORDERS, document, order.id, now).await?;
        for (fin, sales, _) in &lines {
            self.store.couple(LINES, *fin, *sales, now).await?;
        }
        let number = self
            .financials
            .get(&fin_orders().selecting(["number"]), &[document])
            .await?
            .first()
            .and_then(|r| text(&r.fields, "number").map(str::to_owned));
        if let Some(number) = number {
            let mut back = Record::new();
            back.insert("kontor_financialsordernumber".into(), json!(number));
            if let Some(refused) = self
                .write_one_sales(&orders_table(), WriteOp::Upsert { id: order.id, fields: back })
                .await?
            {
                tracing::warn!(order = %order.id, refused, "Sales refused the Financials order number.");
            }
        }
        Ok(Received::Created)
    }

    /// Deletes a partly written Financials order (its lines go with it) and fails with `message`.
    async fn undo(&self, document: Uuid, message: String) -> Result<Received, SyncError> {
        if let Some(refused) =
            self.write_one(&fin_orders(), WriteOp::Delete { id: document }).await?
        {
            tracing::warn!(order = %document, refused, "Could not delete a partly created sales order.");
        }
        Ok(Received::Failed(message))
    }

    /// One write to Financials: `None` when done, the refusal otherwise.
    async fn write_one(&self, table: &TableRef, op: WriteOp) -> Result<Option<String>, SyncError> {
        let out = self
            .financials
            .write(&WriteBatch { table: table.clone(), binds: vec![], ops: vec![op] })
            .await?;
        Ok(refusal(out))
    }

    async fn write_one_sales(
        &self,
        table: &TableRef,
        op: WriteOp,
    ) -> Result<Option<String>, SyncError> {
        let out = self
            .sales
            .write(&WriteBatch { table: table.clone(), binds: vec![], ops: vec![op] })
            .await?;
        Ok(refusal(out))
    }

    /// Whether Sales orders changed since [`Engine::receive_sales_orders`] last read them (one
    /// small delta read; the watcher wakes SALESORDER-ORDER then).
    pub async fn sales_orders_changed(&self) -> Result<bool, SyncError> {
        let Some(token) = self.store.watermark(ORDERS, Side::Sales).await? else {
            return Ok(false);
        };
        let page = self.sales.read(&orders_table(), &Cursor::Delta(token), 1).await?;
        Ok(!page.changes.is_empty())
    }

    /// Sets the Sales orders of orders posted since the last run *Invoiced* and removes their
    /// couplings (the order and its lines). See the module docs. Returns how many were set.
    pub async fn settle_posted_orders(&self) -> Result<u64, SyncError> {
        let _one_at_a_time = self.orders_lock.lock().await;
        let set = self.store.mappings().await?;
        if !set.get(ORDERS).is_some_and(|m| m.enabled) {
            return Ok(0);
        }
        let table = TableRef::new("salesInvoices", "id").selecting(["orderId", "number", "status"]);
        let mut cursor = match self.store.watermark(POSTED, Side::Financials).await? {
            Some(t) => Cursor::Delta(t),
            None => Cursor::Start,
        };
        let mut order_ids = Vec::new();
        let delta = loop {
            let page = match self.financials.read(&table, &cursor, 500).await {
                Ok(p) => p,
                Err(crate::connector::ConnectorError::TokenExpired { .. }) => {
                    cursor = Cursor::Start;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for c in page.changes {
                if let Change::Upsert(r) = c
                    && text(&r.fields, "status") != Some("Draft")
                    && let Some(o) = guid(&r.fields, "orderId")
                {
                    order_ids.push(o);
                }
            }
            match page.next {
                Some(n) => cursor = Cursor::Next(n),
                None => break page.delta,
            }
        };
        let mut settled = 0;
        let couplings = self.store.couplings_for(ORDERS, Side::Financials, &order_ids).await?;
        for c in &couplings {
            let (fin, sales) = (c.id(Side::Financials), c.id(Side::Sales));
            let mut state = Record::new();
            state.insert("statecode".into(), json!(INVOICED));
            if let Some(refused) = self
                .write_one_sales(&orders_table(), WriteOp::Upsert { id: sales, fields: state })
                .await?
            {
                return Err(SyncError::Refused(format!(
                    "{ORDERS}: Sales refused to set the Sales order {sales} Invoiced: {refused}"
                )));
            }
            // The posted order's lines are gone with it; so are their couplings.
            let details =
                self.sales.children(&details_table(), "_salesorderid_value", sales).await?;
            for d in details {
                self.store.uncouple(LINES, Side::Sales, d.id).await?;
            }
            self.store.uncouple(ORDERS, Side::Financials, fin).await?;
            settled += 1;
        }
        if settled > 0 {
            tracing::info!(mapping = ORDERS, settled, "Posted sales orders set Invoiced in Sales.");
        }
        if let Some(d) = delta {
            self.store.set_watermark(POSTED, Side::Financials, &d, self.clock.now()).await?;
        }
        Ok(settled)
    }
}

/// The Financials header fields of a Sales order: the values of SALESORDER-ORDER's plain field
/// mappings (no lookup, constant or transformation; not insert-only) that the Sales order has —
/// ship-to, requested delivery date, discount — so the order's own Financials → Sales pass
/// finds them as typed in Sales. Date-times go to date fields as their date.
fn order_header(mapping: &crate::mapping::TableMapping, sales: &Record) -> Record {
    let mut out = Record::new();
    for f in &mapping.fields {
        let (Some(fin), Some(col)) = (&f.financials, &f.sales) else { continue };
        if !f.enabled
            || f.insert_only
            || f.lookup.is_some()
            || f.constant.is_some()
            || f.transformation.is_some()
        {
            continue;
        }
        let Some(v) = sales.get(col).filter(|v| !v.is_null()) else { continue };
        let v = match v.as_str() {
            Some(t) if fin.ends_with("Date") && t.len() > 10 && t.as_bytes()[10] == b'T' => {
                json!(t[..10])
            }
            _ => v.clone(),
        };
        out.insert(fin.clone(), v);
    }
    out
}

fn refusal(out: Vec<WriteOutcome>) -> Option<String> {
    out.into_iter().find_map(|o| match o {
        WriteOutcome::Failed { message } => Some(message),
        WriteOutcome::Done => None,
    })
}
