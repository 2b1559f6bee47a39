//! *Ship and invoice*: the snapshot for the pure posting plan, then the writes of the plan.

use super::json::*;
use super::rules::*;
#[allow(unused_imports)]
use super::*;

/// A snapshot of the order for posting, with its lines, customer and items locked.
pub(super) async fn posting_input(tx: &mut Tx, order_id: Uuid) -> Result<posting::PostingInput> {
    let orders = entity(sets::SALES_ORDERS)?;
    let order = rows::find(tx, orders, "id", Json::String(order_id.to_string()), true)
        .await?
        .ok_or_else(|| FinError::NotFound("The sales order does not exist.".into()))?;
    let customers = entity(sets::CUSTOMERS)?;
    let customer_id = guid(&order.data, "customerId").unwrap_or_default();
    let customer = rows::find(tx, customers, "id", Json::String(customer_id.to_string()), true)
        .await?
        .ok_or_else(|| FinError::Rule("The customer of the sales order does not exist.".into()))?;
    let due_date_formula = match guid(&customer.data, "paymentTermsId") {
        Some(terms) => lookup(tx, sets::PAYMENT_TERMS, "id", &terms.to_string())
            .await?
            .and_then(|t| t.str("dueDateCalculation").map(str::to_owned)),
        None => None,
    };
    let currency_factor = match order.str("currencyCode") {
        Some(code) if !code.trim().is_empty() => lookup(tx, sets::CURRENCIES, "code", code)
            .await?
            .map(|c| dec(&c.data, "exchangeRate"))
            .filter(|r| !r.is_zero()),
        _ => None,
    };
    let lines = rows::find_all(
        tx,
        entity(sets::SALES_ORDER_LINES)?,
        "documentId",
        Json::String(order_id.to_string()),
    )
    .await?;
    let items_set = entity(sets::ITEMS)?;
    let mut items = BTreeMap::new();
    let mut resources = BTreeMap::new();
    let mut snapshots = Vec::new();
    for l in &lines {
        let line_type =
            LineType::parse(l.str("lineType").unwrap_or_default()).unwrap_or(LineType::Comment);
        let item_id = guid(&l.data, "itemId");
        let mut qty_per = Decimal::ONE;
        if let (LineType::Item, Some(item_id)) = (line_type, item_id)
            && let Some(item) =
                rows::find(tx, items_set, "id", Json::String(item_id.to_string()), true).await?
        {
            {
                let number = item.str("number").unwrap_or_default().to_owned();
                let base = item.str("baseUnitOfMeasureCode").unwrap_or_default().to_owned();
                qty_per = qty_per_unit(
                    tx,
                    &number,
                    l.str("unitOfMeasureCode").unwrap_or_default(),
                    &base,
                )
                .await?;
                items.insert(
                    item_id,
                    posting::ItemSnapshot {
                        id: item_id,
                        number,
                        item_type: item.str("type").unwrap_or("Inventory").to_owned(),
                        blocked: flag(&item.data, "blocked"),
                        prevent_negative_inventory: flag(&item.data, "preventNegativeInventory"),
                        inventory: dec(&item.data, "inventory"),
                        unit_cost: dec(&item.data, "unitCost"),
                    },
                );
            }
        }
        if line_type == LineType::Resource
            && let Some(no) = l.str("lineObjectNumber")
            && let Some(res) = lookup(tx, sets::RESOURCES, "number", no).await?
        {
            resources.insert(
                no.to_owned(),
                posting::ResourceSnapshot {
                    number: no.to_owned(),
                    blocked: flag(&res.data, "blocked"),
                },
            );
        }
        snapshots.push(posting::LineSnapshot {
            id: l.id().unwrap_or_default(),
            sequence: l.data.get("sequence").and_then(Json::as_i64).unwrap_or_default(),
            line_type,
            item_id,
            object_number: l.str("lineObjectNumber").map(str::to_owned),
            description: l.str("description").map(str::to_owned),
            unit_of_measure_code: l.str("unitOfMeasureCode").map(str::to_owned),
            qty_per_unit_of_measure: qty_per,
            quantity: dec(&l.data, "quantity"),
            unit_price: dec(&l.data, "unitPrice"),
            discount_amount: dec(&l.data, "discountAmount"),
            discount_percent: dec(&l.data, "discountPercent"),
        });
    }
    Ok(posting::PostingInput {
        order: posting::OrderSnapshot {
            id: order_id,
            number: order.str("number").unwrap_or_default().to_owned(),
            external_document_number: order.str("externalDocumentNumber").map(str::to_owned),
            order_date: date(&order.data, "orderDate"),
            posting_date: date(&order.data, "postingDate"),
            currency_code: order.str("currencyCode").map(str::to_owned),
            salesperson: order.str("salesperson").map(str::to_owned),
            discount_amount: dec(&order.data, "discountAmount"),
        },
        customer: posting::CustomerSnapshot {
            id: customer_id,
            number: customer.str("number").unwrap_or_default().to_owned(),
            name: customer.str("displayName").map(str::to_owned),
            blocked: Blocked::parse(customer.str("blocked").unwrap_or(" ")).unwrap_or(Blocked::All),
        },
        lines: snapshots,
        items,
        resources,
        invoice_number: String::new(),
        first_item_entry_no: 0,
        first_customer_entry_no: 0,
        today: today(),
        currency_factor,
        due_date_formula,
    })
}

/// *Ship and invoice* the order: plan (pure), then write everything in `tx`. Returns the posted
/// invoice and the deleted order's line ids and order id (for the caller to delete through the
/// store, which writes tombstones). On a rule violation nothing is written.
pub async fn ship_and_invoice(
    tx: &mut Tx,
    order_id: Uuid,
    actor: Actor,
) -> Result<(Record, Vec<(&'static str, Uuid)>)> {
    let mut input = posting_input(tx, order_id).await?;
    // Check the rules before numbers are taken; then number the plan for real.
    let trial = posting::plan(&input).map_err(|e| FinError::Rule(e.to_string()))?;
    input.invoice_number = numbering::next(tx, series::POSTED_SALES_INVOICES).await?;
    input.first_item_entry_no = numbering::next_entry_no(tx, series::ITEM_LEDGER_ENTRIES).await?;
    input.first_customer_entry_no =
        numbering::next_entry_no(tx, series::CUSTOMER_LEDGER_ENTRIES).await?;
    let plan = posting::plan(&input).map_err(|e| FinError::Rule(e.to_string()))?;
    debug_assert_eq!(trial.item_entries.len(), plan.item_entries.len());
    if plan.item_entries.len() > 1 {
        let last = input.first_item_entry_no + plan.item_entries.len() as i64 - 1;
        tx.execute_sql(
            "UPDATE fin_no_series SET last_no_used = $1 WHERE code = $2",
            vec![
                Value::from(last.to_string()),
                Value::from(series::ITEM_LEDGER_ENTRIES.to_owned()),
            ],
        )
        .await?;
    } else if plan.item_entries.is_empty() {
        // Give the unused entry number back.
        let prev = input.first_item_entry_no - 1;
        tx.execute_sql(
            "UPDATE fin_no_series SET last_no_used = $1 WHERE code = $2",
            vec![
                if prev > 0 { Value::from(prev.to_string()) } else { Value::String(None) },
                Value::from(series::ITEM_LEDGER_ENTRIES.to_owned()),
            ],
        )
        .await?;
    }

    let a = Some(actor.0);
    let inv = &plan.invoice;
    let invoice_row = obj(serde_json::json!({
        "id": inv.id.to_string(),
        "number": inv.number,
        "externalDocumentNumber": inv.external_document_number,
        "invoiceDate": inv.invoice_date.to_string(),
        "postingDate": inv.posting_date.to_string(),
        "dueDate": inv.due_date.to_string(),
        "customerId": inv.customer_id.to_string(),
        "customerNumber": inv.customer_number,
        "customerName": inv.customer_name,
        "currencyCode": inv.currency_code,
        "salesperson": inv.salesperson,
        "orderId": inv.order_id.to_string(),
        "orderNumber": inv.order_number,
        "totalAmountExcludingTax": d(inv.total_amount_excluding_tax)?,
        "totalTaxAmount": d(inv.total_tax_amount)?,
        "totalAmountIncludingTax": d(inv.total_amount_including_tax)?,
        "remainingAmount": d(inv.total_amount_including_tax)?,
        "status": "Open",
        "discountAmount": d(inv.discount_amount)?,
    }));
    let mut invoice_row = invoice_row;
    if let Some(order) = rows::get(tx, entity(sets::SALES_ORDERS)?, order_id).await? {
        for f in [
            "shipToName",
            "shipToContact",
            "shipToAddressLine1",
            "shipToAddressLine2",
            "shipToCity",
            "shipToState",
            "shipToCountry",
            "shipToPostCode",
        ] {
            invoice_row.insert(f.to_owned(), order.data.get(f).cloned().unwrap_or(Json::Null));
        }
    }
    let invoice = rows::insert(tx, entity(sets::SALES_INVOICES)?, &invoice_row, a).await?;
    for l in &plan.invoice_lines {
        let row = obj(serde_json::json!({
            "id": l.id.to_string(),
            "documentId": l.document_id.to_string(),
            "sequence": l.sequence,
            "lineType": l.line_type.caption(),
            "itemId": l.item_id.map(|i| i.to_string()),
            "lineObjectNumber": l.object_number,
            "description": l.description,
            "unitOfMeasureCode": l.unit_of_measure_code,
            "quantity": d(l.quantity)?,
            "unitPrice": d(l.unit_price)?,
            "discountAmount": d(l.discount_amount)?,
            "discountPercent": d(l.discount_percent)?,
            "amountExcludingTax": d(l.amount_excluding_tax)?,
            "totalTaxAmount": 0,
            "amountIncludingTax": d(l.amount_excluding_tax)?,
            "unitCost": d(l.unit_cost)?,
        }));
        rows::insert(tx, entity(sets::SALES_INVOICE_LINES)?, &row, a).await?;
    }
    for en in &plan.item_entries {
        let row = obj(serde_json::json!({
            "id": en.id.to_string(),
            "entryNumber": en.entry_number,
            "itemId": en.item_id.to_string(),
            "itemNumber": en.item_number,
            "postingDate": en.posting_date.to_string(),
            "entryType": "Sale",
            "sourceType": "Customer",
            "sourceNumber": en.source_number,
            "documentType": "Sales Invoice",
            "documentNumber": en.document_number,
            "description": en.description,
            "unitOfMeasureCode": en.unit_of_measure_code,
            "quantity": d(en.quantity)?,
            "salesAmountActual": d(en.sales_amount_actual)?,
            "costAmountActual": d(en.cost_amount_actual)?,
        }));
        rows::insert(tx, entity(sets::ITEM_LEDGER_ENTRIES)?, &row, a).await?;
    }
    let ce = &plan.customer_entry;
    let row = obj(serde_json::json!({
        "id": ce.id.to_string(),
        "entryNumber": ce.entry_number,
        "customerId": ce.customer_id.to_string(),
        "customerNumber": ce.customer_number,
        "postingDate": ce.posting_date.to_string(),
        "documentType": "Invoice",
        "documentNumber": ce.document_number,
        "description": ce.description,
        "currencyCode": ce.currency_code,
        "amount": d(ce.amount)?,
        "amountLcy": d(ce.amount_lcy)?,
        "remainingAmount": d(ce.amount)?,
        "open": true,
    }));
    rows::insert(tx, entity(sets::CUSTOMER_LEDGER_ENTRIES)?, &row, a).await?;
    let items = entity(sets::ITEMS)?;
    for (item_id, (_, after)) in &plan.inventory_changes {
        let mut patch = Map::new();
        patch.insert("inventory".into(), d(*after)?);
        rows::update(tx, items, *item_id, &patch, a).await?;
    }
    let customers = entity(sets::CUSTOMERS)?;
    let customer = rows::get(tx, customers, ce.customer_id)
        .await?
        .ok_or_else(|| FinError::internal("customer vanished"))?;
    let mut patch = Map::new();
    patch.insert("balanceDue".into(), d(dec(&customer.data, "balanceDue") + plan.balance_change)?);
    rows::update(tx, customers, ce.customer_id, &patch, a).await?;

    let mut deletes: Vec<(&'static str, Uuid)> =
        plan.order_line_ids.iter().map(|l| (sets::SALES_ORDER_LINES, *l)).collect();
    deletes.push((sets::SALES_ORDERS, plan.order_id));
    Ok((invoice, deletes))
}

/// *Post* (Ship and Invoice) as the API's `Microsoft.NAV.shipAndInvoice` and the Sales Order
/// page do it: [`ship_and_invoice`], then the order and its lines deleted through the store
/// (tombstones for the change feed). Returns the posted invoice.
pub async fn post_order(tx: &mut Tx, order_id: Uuid, actor: Actor) -> Result<Record> {
    let (invoice, deletes) = ship_and_invoice(tx, order_id, actor).await?;
    for (set, id) in deletes {
        crate::query::delete(tx, entity(set)?, id).await?;
    }
    Ok(invoice)
}

/// *Release* (`released`) or *Reopen* a sales order, as Business Central's Sales Order page:
/// an order with no line of a quantity has nothing to release, a released order is not
/// released again, an open one not reopened. Returns the order as written.
pub async fn set_order_status(
    tx: &mut Tx,
    order_id: Uuid,
    released: bool,
    actor: Actor,
) -> Result<Record> {
    let orders = entity(sets::SALES_ORDERS)?;
    let order = rows::find(tx, orders, "id", Json::String(order_id.to_string()), true)
        .await?
        .ok_or_else(|| FinError::NotFound("The sales order does not exist.".into()))?;
    let number = order.str("number").unwrap_or_default().to_owned();
    let status = order.str("status").unwrap_or("Open");
    let target = if released { "Released" } else { "Open" };
    if status == target {
        return Err(FinError::Rule(if released {
            format!("Sales order {number} is already released.")
        } else {
            format!("Sales order {number} is already open.")
        }));
    }
    if released {
        let lines = rows::find_all(
            tx,
            entity(sets::SALES_ORDER_LINES)?,
            "documentId",
            Json::String(order_id.to_string()),
        )
        .await?;
        if !lines.iter().any(|l| !dec(&l.data, "quantity").is_zero()) {
            return Err(FinError::Rule(format!(
                "There is nothing to release for the document of type Order with the number {number}."
            )));
        }
    }
    let mut patch = Map::new();
    patch.insert("status".into(), Json::String(target.into()));
    let (rec, _) =
        update(tx, sets::SALES_ORDERS, order_id, patch, Some(order.version), None, actor).await?;
    Ok(rec)
}
