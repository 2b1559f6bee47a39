//! The domain operations behind the API: create, update (and upsert), delete and *ship and
//! invoice*, each inside the caller's transaction (so a `$batch` change set is atomic). Every
//! entity set goes through the same steps: the body is checked against the model (unknown,
//! read-only, mistyped and too-long fields are named), merged with the stored row, completed by
//! the set's rules (defaults, number series, lookups, computed fields), then written.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use kontor_odata::model::{EdmType, EntityType};
use kontor_odata::sql::{decimal_json, encode_value};
use kontor_store::Tx;
use kontor_store::sea_query::Value;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::credentials::{Permissions, Secret};
use crate::error::{FinError, Result};
use crate::model::{model, sets};
use crate::numbering::{self, series};
use crate::posting::{self, Blocked, LineType};
use crate::pricing;
use crate::rows::{self, Record};
use crate::users;

/// Starts a write transaction for domain operations. On PostgreSQL it takes the store's
/// row-version counter lock first, before any row lock: every store write takes that lock first
/// too, so two writers never wait on each other in opposite order (no deadlocks), and number
/// series and inventory checks see a stable state.
pub async fn begin_write(db: &kontor_store::Db) -> Result<Tx> {
    let mut tx = db.begin().await?;
    if tx.backend() == kontor_store::Backend::Postgres {
        tx.execute_sql(
            "SELECT value FROM store_counter WHERE name = 'row_version' FOR UPDATE",
            vec![],
        )
        .await?;
    }
    Ok(tx)
}

/// Who is writing (stored as `systemModifiedBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor(pub Uuid);

/// The entity type of a set, or 404.
pub fn entity(set: &str) -> Result<&'static EntityType> {
    model()
        .entity_set(set)
        .ok_or_else(|| FinError::NotFound(format!("Resource not found for the segment '{set}'.")))
}

/// Sets that only posting writes.
fn read_only_set(set: &str) -> bool {
    matches!(
        set,
        sets::SALES_INVOICES
            | sets::SALES_INVOICE_LINES
            | sets::ITEM_LEDGER_ENTRIES
            | sets::CUSTOMER_LEDGER_ENTRIES
    )
}

fn method_not_allowed(method: &str, set: &str) -> FinError {
    FinError::MethodNotAllowed(format!(
        "'{method}' requests for '{set}' of EdmType 'Entity' are not allowed within Kontor web services."
    ))
}

// ---------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------

fn text(m: &Map<String, Json>, k: &str) -> Option<String> {
    m.get(k).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn dec(m: &Map<String, Json>, k: &str) -> Decimal {
    match m.get(k) {
        Some(Json::Number(n)) => n
            .to_string()
            .parse()
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .unwrap_or_default(),
        Some(Json::String(s)) => s.trim().parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

fn guid(m: &Map<String, Json>, k: &str) -> Option<Uuid> {
    m.get(k).and_then(Json::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

fn flag(m: &Map<String, Json>, k: &str) -> bool {
    m.get(k).and_then(Json::as_bool).unwrap_or(false)
}

fn date(m: &Map<String, Json>, k: &str) -> Option<NaiveDate> {
    m.get(k).and_then(Json::as_str).and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

fn set_dec(m: &mut Map<String, Json>, k: &str, d: Decimal) -> Result<()> {
    m.insert(k.to_owned(), decimal_json(d).map_err(|e| FinError::internal(e.message))?);
    Ok(())
}

fn set_text(m: &mut Map<String, Json>, k: &str, v: Option<String>) {
    m.insert(k.to_owned(), v.map_or(Json::Null, Json::String));
}

fn default(m: &mut Map<String, Json>, k: &str, v: Json) {
    if m.get(k).is_none_or(Json::is_null) {
        m.insert(k.to_owned(), v);
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn one_of(m: &Map<String, Json>, field: &str, allowed: &[&str]) -> Result<()> {
    if let Some(Json::String(v)) = m.get(field)
        && !allowed.contains(&v.as_str())
    {
        return Err(FinError::Invalid {
            code: "Unknown",
            field: Some(field.to_owned()),
            message: format!(
                "'{v}' is not an option for the field '{field}'. The existing options are: {}",
                allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(",")
            ),
        });
    }
    Ok(())
}

fn not_negative(m: &Map<String, Json>, field: &str) -> Result<()> {
    if dec(m, field).is_sign_negative() && !dec(m, field).is_zero() {
        return Err(FinError::invalid(
            field,
            format!("The value of '{field}' must not be negative."),
        ));
    }
    Ok(())
}

fn required(m: &Map<String, Json>, field: &str) -> Result<String> {
    text(m, field).ok_or_else(|| FinError::Invalid {
        code: "BadRequest_RequiredParamNotProvided",
        field: Some(field.to_owned()),
        message: format!("Field '{field}' must not be blank or empty."),
    })
}

/// Checks a client body against the model: annotations are dropped; unknown, read-only,
/// mistyped, null-for-required and too-long fields are errors naming the field.
pub fn check_body(
    entity: &EntityType,
    body: &Map<String, Json>,
    creating: bool,
    key: Option<Uuid>,
) -> Result<Map<String, Json>> {
    let mut out = Map::new();
    for (name, value) in body {
        if name.starts_with("@odata.") || name.contains("@odata.") {
            continue;
        }
        let Some(p) = entity.property(name) else {
            return Err(FinError::Invalid {
                code: "BadRequest",
                field: Some(name.clone()),
                message: format!(
                    "Could not find a property named '{name}' on type 'Microsoft.NAV.{}'.",
                    entity.name
                ),
            });
        };
        if name == &entity.key {
            let given = value.as_str().and_then(|s| Uuid::parse_str(s).ok());
            if given.is_none() {
                return Err(FinError::invalid(
                    name,
                    format!("The value of '{name}' is not a GUID."),
                ));
            }
            if !creating && given != key {
                return Err(FinError::invalid(
                    name,
                    format!("The value for \"{name}\" cannot be modified."),
                ));
            }
            if creating {
                out.insert(name.clone(), value.clone());
            }
            continue;
        }
        if p.read_only {
            return Err(FinError::read_only(name));
        }
        if value.is_null() && !p.nullable {
            return Err(FinError::Invalid {
                code: "BadRequest_RequiredParamNotProvided",
                field: Some(name.clone()),
                message: format!("Field '{name}' must not be blank or empty."),
            });
        }
        encode_value(p.ty, value, name).map_err(|e| FinError::Invalid {
            code: "BadRequest",
            field: Some(name.clone()),
            message: e.message,
        })?;
        if let (Some(max), Json::String(s)) = (p.max_length, value) {
            let len = s.chars().count();
            if len > max as usize {
                return Err(FinError::Invalid {
                    code: "Application_StringExceededLength",
                    field: Some(name.clone()),
                    message: format!(
                        "The length of the string is {len}, but it must be less than or equal to {max} characters. Field: {name}."
                    ),
                });
            }
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

async fn lookup(tx: &mut Tx, set: &str, property: &str, value: &str) -> Result<Option<Record>> {
    let e = entity(set)?;
    let p = e.property(property).ok_or_else(|| FinError::internal(format!("{set}.{property}")))?;
    let json = match p.ty {
        EdmType::Guid => match Uuid::parse_str(value) {
            Ok(u) => Json::String(u.hyphenated().to_string()),
            Err(_) => return Ok(None),
        },
        _ => Json::String(value.to_owned()),
    };
    rows::find(tx, e, property, json, false).await
}

/// A code field that must name an existing record (`salespersonCode` → `salespeople.code`).
async fn must_exist(
    tx: &mut Tx,
    rec: &Map<String, Json>,
    field: &str,
    set: &str,
    key: &str,
    what: &str,
) -> Result<Option<Record>> {
    let Some(v) = text(rec, field) else { return Ok(None) };
    match lookup(tx, set, key, &v).await? {
        Some(r) => Ok(Some(r)),
        None => Err(FinError::missing_reference(
            field,
            format!("The {what} does not exist. Identification fields and values: Code='{v}'"),
        )),
    }
}

/// Resolves a pair like (`itemId`, `itemNumber`) against `set`: either may be given; when both
/// are, they must agree. Fills in the other. Returns the record.
async fn resolve_pair(
    tx: &mut Tx,
    rec: &mut Map<String, Json>,
    (id_field, no_field): (&str, &str),
    (set, no_prop): (&str, &str),
    what: &str,
    is_required: bool,
) -> Result<Option<Record>> {
    let id = rec.get(id_field).and_then(Json::as_str).map(str::to_owned);
    let no = text(rec, no_field);
    let found = match (&id, &no) {
        (Some(id), _) => {
            let r = lookup(tx, set, "id", id).await?.ok_or_else(|| {
                FinError::missing_reference(
                    id_field,
                    format!("The {what} with the id '{id}' does not exist."),
                )
            })?;
            if let Some(no) = &no
                && r.str(no_prop) != Some(no.as_str())
            {
                return Err(FinError::invalid(
                    no_field,
                    format!(
                        "The \"{no_field}\" and \"{id_field}\" values do not match to a specific {what}."
                    ),
                ));
            }
            Some(r)
        }
        (None, Some(no)) => Some(lookup(tx, set, no_prop, no).await?.ok_or_else(|| {
            FinError::missing_reference(
                no_field,
                format!("The {what} does not exist. Identification fields and values: No.='{no}'"),
            )
        })?),
        (None, None) if is_required => {
            return Err(FinError::Invalid {
                code: "Application_DialogException",
                field: Some(no_field.to_owned()),
                message: format!("A \"{no_field}\" or a \"{id_field}\" must be provided."),
            });
        }
        (None, None) => None,
    };
    if let Some(r) = &found {
        rec.insert(id_field.to_owned(), r.data.get("id").cloned().unwrap_or(Json::Null));
        rec.insert(no_field.to_owned(), r.data.get(no_prop).cloned().unwrap_or(Json::Null));
    }
    Ok(found)
}

fn became(rec: &Map<String, Json>, old: Option<&Record>, field: &str) -> bool {
    match old {
        None => rec.get(field).is_some_and(|v| !v.is_null()),
        Some(o) => o.data.get(field) != rec.get(field),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-set rules
// ---------------------------------------------------------------------------------------------

async fn assign_number(
    tx: &mut Tx,
    rec: &mut Map<String, Json>,
    field: &str,
    s: &str,
) -> Result<()> {
    if text(rec, field).is_none() {
        let no = numbering::next(tx, s).await?;
        rec.insert(field.to_owned(), Json::String(no));
    }
    Ok(())
}

/// Defaults, lookups and computed fields of `set` for the merged record `rec` (`old`: the stored
/// row on update).
async fn prepare(
    tx: &mut Tx,
    set: &str,
    rec: &mut Map<String, Json>,
    old: Option<&Record>,
) -> Result<()> {
    match set {
        sets::COMPANIES => {
            one_of(rec, "experience", &["Essential", "Suite"])?;
            must_exist(tx, rec, "baseCurrencyCode", sets::CURRENCIES, "code", "Currency")
                .await
                .or_else(|e| {
                    // The base currency need not be a row of `currencies` (BC keeps LCY apart).
                    if matches!(e, FinError::Invalid { code: "Internal_RecordNotFound", .. }) {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                })?;
        }
        sets::CUSTOMERS => {
            assign_number(tx, rec, "number", series::CUSTOMERS).await?;
            default(rec, "type", Json::String("Company".into()));
            default(rec, "blocked", Json::String(" ".into()));
            default(rec, "balanceDue", Json::from(0));
            default(rec, "creditLimit", Json::from(0));
            one_of(rec, "type", &["Company", "Person"])?;
            one_of(rec, "blocked", &Blocked::CAPTIONS)?;
            not_negative(rec, "creditLimit")?;
            if let Some(email) = text(rec, "email")
                && !email.contains('@')
            {
                return Err(FinError::invalid(
                    "email",
                    format!("The email address \"{email}\" is not valid."),
                ));
            }
            must_exist(
                tx,
                rec,
                "salespersonCode",
                sets::SALESPEOPLE,
                "code",
                "Salesperson/Purchaser",
            )
            .await?;
            must_exist(tx, rec, "currencyCode", sets::CURRENCIES, "code", "Currency").await?;
            must_exist(
                tx,
                rec,
                "customerPriceGroup",
                sets::CUSTOMER_PRICE_GROUPS,
                "code",
                "Customer Price Group",
            )
            .await?;
            if let Some(id) = guid(rec, "paymentTermsId")
                && lookup(tx, sets::PAYMENT_TERMS, "id", &id.to_string()).await?.is_none()
            {
                return Err(FinError::missing_reference(
                    "paymentTermsId",
                    "The Payment Terms does not exist.",
                ));
            }
        }
        sets::CONTACTS => {
            assign_number(tx, rec, "number", series::CONTACTS).await?;
            default(rec, "type", Json::String("Company".into()));
            one_of(rec, "type", &["Company", "Person"])?;
            if let Some(company_no) = text(rec, "companyNumber") {
                let company = lookup(tx, sets::CONTACTS, "number", &company_no).await?.ok_or_else(|| {
                    FinError::missing_reference(
                        "companyNumber",
                        format!("The Contact does not exist. Identification fields and values: No.='{company_no}'"),
                    )
                })?;
                if company.str("type") != Some("Company") {
                    return Err(FinError::invalid(
                        "companyNumber",
                        format!("The contact {company_no} is not a company."),
                    ));
                }
                let name = company.str("displayName").map(str::to_owned);
                set_text(rec, "companyName", name);
            } else {
                let name = if text(rec, "type").as_deref() == Some("Company") {
                    text(rec, "displayName")
                } else {
                    None
                };
                set_text(rec, "companyName", name);
            }
        }
        sets::CURRENCIES => {
            let code = required(rec, "code")?;
            rec.insert("code".into(), Json::String(code.to_uppercase()));
            default(rec, "amountRoundingPrecision", Json::String("0.01".into()));
            if let Some(Json::String(_)) = rec.get("amountRoundingPrecision") {
                let d = dec(rec, "amountRoundingPrecision");
                set_dec(rec, "amountRoundingPrecision", d)?;
            }
            not_negative(rec, "amountRoundingPrecision")?;
            if rec.get("exchangeRate").is_some_and(|v| !v.is_null())
                && dec(rec, "exchangeRate") <= Decimal::ZERO
            {
                return Err(FinError::invalid(
                    "exchangeRate",
                    "The value of 'exchangeRate' must be greater than 0.",
                ));
            }
        }
        sets::CURRENCY_EXCHANGE_RATES => {
            let cur =
                must_exist(tx, rec, "currencyCode", sets::CURRENCIES, "code", "Currency").await?;
            match cur {
                Some(c) => {
                    rec.insert(
                        "currencyId".into(),
                        c.data.get("id").cloned().unwrap_or(Json::Null),
                    );
                }
                None => {
                    required(rec, "currencyCode")?;
                }
            }
            for f in ["exchangeRateAmount", "relationalExchangeRateAmount"] {
                if dec(rec, f) <= Decimal::ZERO {
                    return Err(FinError::invalid(
                        f,
                        format!("The value of '{f}' must be greater than 0."),
                    ));
                }
            }
        }
        sets::UNITS_OF_MEASURE
        | sets::PAYMENT_TERMS
        | sets::SALESPEOPLE
        | sets::CUSTOMER_PRICE_GROUPS => {
            let code = required(rec, "code")?;
            rec.insert("code".into(), Json::String(code.to_uppercase()));
            if set == sets::PAYMENT_TERMS {
                default(rec, "discountPercent", Json::from(0));
            }
            if set == sets::SALESPEOPLE {
                default(rec, "blocked", Json::Bool(false));
            }
        }
        sets::ITEMS => {
            assign_number(tx, rec, "number", series::ITEMS).await?;
            default(rec, "type", Json::String("Inventory".into()));
            one_of(rec, "type", &["Inventory", "Service", "Non-Inventory"])?;
            for (f, v) in [
                ("blocked", false),
                ("priceIncludesTax", false),
                ("preventNegativeInventory", false),
            ] {
                default(rec, f, Json::Bool(v));
            }
            for f in ["unitPrice", "unitCost", "inventory"] {
                default(rec, f, Json::from(0));
            }
            not_negative(rec, "unitPrice")?;
            not_negative(rec, "unitCost")?;
            resolve_pair(
                tx,
                rec,
                ("baseUnitOfMeasureId", "baseUnitOfMeasureCode"),
                (sets::UNITS_OF_MEASURE, "code"),
                "Unit of Measure",
                false,
            )
            .await?;
        }
        sets::ITEM_UNITS_OF_MEASURE => {
            resolve_pair(tx, rec, ("itemId", "itemNumber"), (sets::ITEMS, "number"), "Item", true)
                .await?;
            let code = required(rec, "code")?;
            rec.insert("code".into(), Json::String(code.to_uppercase()));
            must_exist(tx, rec, "code", sets::UNITS_OF_MEASURE, "code", "Unit of Measure").await?;
            default(rec, "qtyPerUnitOfMeasure", Json::from(1));
            if dec(rec, "qtyPerUnitOfMeasure") <= Decimal::ZERO {
                return Err(FinError::invalid(
                    "qtyPerUnitOfMeasure",
                    "The value of 'qtyPerUnitOfMeasure' must be greater than 0.",
                ));
            }
        }
        sets::RESOURCES => {
            assign_number(tx, rec, "number", series::RESOURCES).await?;
            default(rec, "type", Json::String("Person".into()));
            one_of(rec, "type", &["Person", "Machine"])?;
            default(rec, "blocked", Json::Bool(false));
            for f in ["unitPrice", "unitCost"] {
                default(rec, f, Json::from(0));
                not_negative(rec, f)?;
            }
            must_exist(
                tx,
                rec,
                "baseUnitOfMeasureCode",
                sets::UNITS_OF_MEASURE,
                "code",
                "Unit of Measure",
            )
            .await?;
        }
        sets::SALES_PRICES => {
            resolve_pair(tx, rec, ("itemId", "itemNumber"), (sets::ITEMS, "number"), "Item", true)
                .await?;
            resolve_pair(
                tx,
                rec,
                ("customerPriceGroupId", "customerPriceGroupCode"),
                (sets::CUSTOMER_PRICE_GROUPS, "code"),
                "Customer Price Group",
                false,
            )
            .await?;
            must_exist(tx, rec, "currencyCode", sets::CURRENCIES, "code", "Currency").await?;
            must_exist(
                tx,
                rec,
                "unitOfMeasureCode",
                sets::UNITS_OF_MEASURE,
                "code",
                "Unit of Measure",
            )
            .await?;
            default(rec, "minimumQuantity", Json::from(0));
            default(rec, "unitPrice", Json::from(0));
            not_negative(rec, "minimumQuantity")?;
            not_negative(rec, "unitPrice")?;
            if let (Some(s), Some(e)) = (date(rec, "startingDate"), date(rec, "endingDate"))
                && e < s
            {
                return Err(FinError::invalid(
                    "endingDate",
                    "The ending date must not be before the starting date.",
                ));
            }
        }
        sets::SALES_ORDERS => prepare_order(tx, rec, old).await?,
        sets::SALES_ORDER_LINES => prepare_line(tx, rec, old).await?,
        sets::USERS => {
            let name = required(rec, "userName")?;
            rec.insert("userName".into(), Json::String(users::normalize_user_name(&name)));
            default(rec, "state", Json::String(users::ENABLED.into()));
            one_of(rec, "state", &[users::ENABLED, users::DISABLED])?;
            default(rec, "permissionSets", Json::String(String::new()));
            let list = text(rec, "permissionSets").unwrap_or_default();
            let perms =
                Permissions::parse(&list).map_err(|m| FinError::invalid("permissionSets", m))?;
            rec.insert("permissionSets".into(), Json::String(perms.to_list()));
            default(rec, "hasWebServiceKey", Json::Bool(false));
        }
        _ => {}
    }
    Ok(())
}

async fn prepare_order(
    tx: &mut Tx,
    rec: &mut Map<String, Json>,
    old: Option<&Record>,
) -> Result<()> {
    assign_number(tx, rec, "number", series::SALES_ORDERS).await?;
    default(rec, "status", Json::String("Open".into()));
    one_of(rec, "status", &["Open", "Released"])?;
    default(rec, "orderDate", Json::String(today().to_string()));
    for f in ["totalAmountExcludingTax", "totalTaxAmount", "totalAmountIncludingTax"] {
        default(rec, f, Json::from(0));
    }
    default(rec, "fullyShipped", Json::Bool(false));
    default(rec, "discountAmount", Json::from(0));
    not_negative(rec, "discountAmount")?;
    if let Some(o) = old
        && became(rec, Some(o), "discountAmount")
    {
        let id = o.id().ok_or_else(|| FinError::internal("order without id"))?;
        let (excl, incl) = lines_total(tx, id).await?;
        let discount = dec(rec, "discountAmount");
        set_dec(rec, "totalAmountExcludingTax", excl - discount)?;
        set_dec(rec, "totalTaxAmount", incl - excl)?;
        set_dec(rec, "totalAmountIncludingTax", incl - discount)?;
    }
    if old.is_some_and(|o| o.str("status") == Some("Released"))
        && text(rec, "status").as_deref() == Some("Released")
    {
        let changed_other = old.is_some_and(|o| {
            rec.iter().any(|(k, v)| k != "status" && o.data.get(k).is_some_and(|ov| ov != v))
        });
        if changed_other {
            return Err(FinError::Rule(
                "Status must be equal to 'Open' in Sales Header: the sales order is released."
                    .into(),
            ));
        }
    }
    let customer_changed = became(rec, old, "customerId") || became(rec, old, "customerNumber");
    if old.is_some() && !customer_changed {
        return Ok(());
    }
    if old.is_some() {
        // A new customer: drop the stale pair so the given one is resolved alone.
        let id_given = old.is_some_and(|o| o.data.get("customerId") != rec.get("customerId"));
        if id_given {
            rec.remove("customerNumber");
        } else {
            rec.remove("customerId");
        }
    }
    let customer = resolve_pair(
        tx,
        rec,
        ("customerId", "customerNumber"),
        (sets::CUSTOMERS, "number"),
        "Customer",
        true,
    )
    .await?
    .ok_or_else(|| FinError::internal("a required customer resolved to nothing"))?;
    if customer.str("blocked") == Some("All") {
        return Err(FinError::Rule(format!(
            "You cannot create this type of document when Customer {} is blocked with type 'All'.",
            customer.str("number").unwrap_or_default()
        )));
    }
    set_text(rec, "customerName", customer.str("displayName").map(str::to_owned));
    for (to, from) in [
        ("sellToAddressLine1", "addressLine1"),
        ("sellToAddressLine2", "addressLine2"),
        ("sellToCity", "city"),
        ("sellToState", "state"),
        ("sellToCountry", "country"),
        ("sellToPostCode", "postalCode"),
        ("phoneNumber", "phoneNumber"),
        ("email", "email"),
        ("currencyCode", "currencyCode"),
        ("customerPriceGroup", "customerPriceGroup"),
        ("salesperson", "salespersonCode"),
        ("shipToName", "displayName"),
        ("shipToAddressLine1", "addressLine1"),
        ("shipToAddressLine2", "addressLine2"),
        ("shipToCity", "city"),
        ("shipToState", "state"),
        ("shipToCountry", "country"),
        ("shipToPostCode", "postalCode"),
    ] {
        if text(rec, to).is_none() || old.is_some() {
            set_text(rec, to, customer.str(from).map(str::to_owned));
        }
    }
    must_exist(tx, rec, "currencyCode", sets::CURRENCIES, "code", "Currency").await?;
    must_exist(tx, rec, "salesperson", sets::SALESPEOPLE, "code", "Salesperson/Purchaser").await?;
    Ok(())
}

/// The order of a line, which must be open.
async fn open_order(tx: &mut Tx, order_id: Uuid) -> Result<Record> {
    let orders = entity(sets::SALES_ORDERS)?;
    let order =
        rows::find(tx, orders, "id", Json::String(order_id.to_string()), true).await?.ok_or_else(
            || FinError::missing_reference("documentId", "The sales order does not exist."),
        )?;
    if order.str("status") != Some("Open") {
        return Err(FinError::Rule(format!(
            "Status must be equal to 'Open' in Sales Header: Document Type=Order, No.={}. Current value is '{}'.",
            order.str("number").unwrap_or_default(),
            order.str("status").unwrap_or_default()
        )));
    }
    Ok(order)
}

async fn prepare_line(
    tx: &mut Tx,
    rec: &mut Map<String, Json>,
    old: Option<&Record>,
) -> Result<()> {
    if let Some(o) = old {
        for f in ["documentId", "sequence"] {
            if o.data.get(f) != rec.get(f) {
                return Err(FinError::invalid(
                    f,
                    format!("The value for \"{f}\" cannot be modified."),
                ));
            }
        }
    }
    let order_id = guid(rec, "documentId").ok_or_else(|| FinError::Invalid {
        code: "BadRequest_RequiredParamNotProvided",
        field: Some("documentId".into()),
        message: "You must specify a Document Id for the line.".into(),
    })?;
    let order = open_order(tx, order_id).await?;
    if rec.get("sequence").is_none_or(Json::is_null) {
        let lines = entity(sets::SALES_ORDER_LINES)?;
        let existing =
            rows::find_all(tx, lines, "documentId", Json::String(order_id.to_string())).await?;
        let max = existing
            .iter()
            .filter_map(|l| l.data.get("sequence").and_then(Json::as_i64))
            .max()
            .unwrap_or(0);
        rec.insert("sequence".into(), Json::from(max + 10000));
    }
    if rec.get("lineType").is_none_or(Json::is_null) {
        let lt = if rec.get("itemId").is_some_and(|v| !v.is_null())
            || text(rec, "lineObjectNumber").is_some()
        {
            "Item"
        } else {
            "Comment"
        };
        rec.insert("lineType".into(), Json::String(lt.into()));
    }
    one_of(rec, "lineType", &LineType::CAPTIONS)?;
    let line_type =
        LineType::parse(&text(rec, "lineType").unwrap_or_default()).unwrap_or(LineType::Comment);
    for f in [
        "quantity",
        "unitPrice",
        "discountAmount",
        "discountPercent",
        "shippedQuantity",
        "invoicedQuantity",
    ] {
        default(rec, f, Json::from(0));
    }
    not_negative(rec, "quantity")?;
    not_negative(rec, "unitPrice")?;
    not_negative(rec, "discountAmount")?;
    let pct = dec(rec, "discountPercent");
    if pct.is_sign_negative() || pct > Decimal::ONE_HUNDRED {
        return Err(FinError::invalid(
            "discountPercent",
            "The value of 'discountPercent' must be between 0 and 100.",
        ));
    }
    let object_changed = old.is_none()
        || became(rec, old, "itemId")
        || became(rec, old, "lineObjectNumber")
        || became(rec, old, "unitOfMeasureCode");
    let price_given = old.map_or(rec.get("unitPrice").is_some_and(|v| v != &Json::from(0)), |o| {
        o.data.get("unitPrice") != rec.get("unitPrice")
    });
    let qty_changed = became(rec, old, "quantity");
    let mut unit_cost = Decimal::ZERO;
    match line_type {
        LineType::Comment => {
            for f in ["itemId", "lineObjectNumber", "unitOfMeasureCode"] {
                set_text(rec, f, None);
            }
            rec.insert("quantity".into(), Json::from(0));
        }
        LineType::Item => {
            if old.is_some() && became(rec, old, "itemId") {
                rec.remove("lineObjectNumber");
            } else if old.is_some() && became(rec, old, "lineObjectNumber") {
                rec.remove("itemId");
            }
            let item = resolve_pair(
                tx,
                rec,
                ("itemId", "lineObjectNumber"),
                (sets::ITEMS, "number"),
                "Item",
                true,
            )
            .await?
            .ok_or_else(|| FinError::internal("a required item resolved to nothing"))?;
            let item_no = item.str("number").unwrap_or_default().to_owned();
            if item.data.get("blocked") == Some(&Json::Bool(true)) {
                return Err(FinError::Rule(format!("Item {item_no} is blocked.")));
            }
            unit_cost = dec(&item.data, "unitCost");
            if text(rec, "description").is_none() {
                set_text(rec, "description", item.str("displayName").map(str::to_owned));
            }
            let base = item.str("baseUnitOfMeasureCode").unwrap_or_default().to_owned();
            if text(rec, "unitOfMeasureCode").is_none() {
                set_text(rec, "unitOfMeasureCode", Some(base.clone()).filter(|b| !b.is_empty()));
            }
            let uom = text(rec, "unitOfMeasureCode").unwrap_or_default();
            let qty_per = qty_per_unit(tx, &item_no, &uom, &base).await?;
            if (object_changed || qty_changed) && !price_given {
                let price =
                    price_for(tx, &order, &item, &uom, &base, qty_per, dec(rec, "quantity"))
                        .await?;
                set_dec(rec, "unitPrice", price)?;
            }
        }
        LineType::Resource => {
            let no = required(rec, "lineObjectNumber").map_err(|_| {
                FinError::invalid(
                    "lineObjectNumber",
                    "A resource line needs the resource number in 'lineObjectNumber'.",
                )
            })?;
            let res = lookup(tx, sets::RESOURCES, "number", &no).await?.ok_or_else(|| {
                FinError::missing_reference(
                    "lineObjectNumber",
                    format!(
                        "The Resource does not exist. Identification fields and values: No.='{no}'"
                    ),
                )
            })?;
            if res.data.get("blocked") == Some(&Json::Bool(true)) {
                return Err(FinError::Rule(format!("Resource {no} is blocked.")));
            }
            set_text(rec, "itemId", None);
            unit_cost = dec(&res.data, "unitCost");
            if text(rec, "description").is_none() {
                set_text(rec, "description", res.str("displayName").map(str::to_owned));
            }
            if text(rec, "unitOfMeasureCode").is_none() {
                set_text(
                    rec,
                    "unitOfMeasureCode",
                    res.str("baseUnitOfMeasureCode").map(str::to_owned),
                );
            }
            if object_changed && !price_given {
                set_dec(rec, "unitPrice", dec(&res.data, "unitPrice"))?;
            }
        }
    }
    let (discount, amount) = posting::line_amount(
        dec(rec, "quantity"),
        dec(rec, "unitPrice"),
        dec(rec, "discountPercent"),
        dec(rec, "discountAmount"),
    );
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(FinError::invalid(
            "discountAmount",
            "The line discount is larger than the line amount.",
        ));
    }
    set_dec(rec, "discountAmount", discount)?;
    set_dec(rec, "amountExcludingTax", amount)?;
    set_dec(rec, "totalTaxAmount", Decimal::ZERO)?;
    set_dec(rec, "amountIncludingTax", amount)?;
    set_dec(rec, "unitCost", unit_cost)?;
    Ok(())
}

/// Base units per `uom` of the item: 1 for the base unit, else its item unit of measure.
async fn qty_per_unit(tx: &mut Tx, item_no: &str, uom: &str, base: &str) -> Result<Decimal> {
    if uom.is_empty() || uom.eq_ignore_ascii_case(base) {
        return Ok(Decimal::ONE);
    }
    let iuom = entity(sets::ITEM_UNITS_OF_MEASURE)?;
    let all = rows::find_all(tx, iuom, "itemNumber", Json::String(item_no.to_owned())).await?;
    all.iter()
        .find(|r| r.str("code").is_some_and(|c| c.eq_ignore_ascii_case(uom)))
        .map(|r| dec(&r.data, "qtyPerUnitOfMeasure"))
        .ok_or_else(|| {
            FinError::missing_reference(
                "unitOfMeasureCode",
                format!("The Item Unit of Measure does not exist. Identification fields and values: Item No.='{item_no}',Code='{uom}'"),
            )
        })
}

async fn price_for(
    tx: &mut Tx,
    order: &Record,
    item: &Record,
    uom: &str,
    base: &str,
    qty_per: Decimal,
    quantity: Decimal,
) -> Result<Decimal> {
    let prices_set = entity(sets::SALES_PRICES)?;
    let item_no = item.str("number").unwrap_or_default().to_owned();
    let rows = rows::find_all(tx, prices_set, "itemNumber", Json::String(item_no)).await?;
    let prices: Vec<pricing::SalesPrice> = rows
        .iter()
        .map(|r| pricing::SalesPrice {
            customer_price_group: r.str("customerPriceGroupCode").map(str::to_owned),
            currency_code: r.str("currencyCode").map(str::to_owned),
            unit_of_measure_code: r.str("unitOfMeasureCode").map(str::to_owned),
            minimum_quantity: dec(&r.data, "minimumQuantity"),
            unit_price: dec(&r.data, "unitPrice"),
            starting_date: date(&r.data, "startingDate"),
            ending_date: date(&r.data, "endingDate"),
        })
        .collect();
    let ctx = pricing::PriceContext {
        customer_price_group: order.str("customerPriceGroup"),
        currency_code: order.str("currencyCode"),
        unit_of_measure_code: uom,
        base_unit_of_measure_code: base,
        qty_per_unit_of_measure: qty_per,
        quantity,
        date: date(&order.data, "orderDate").unwrap_or_else(today),
    };
    Ok(pricing::unit_price(&prices, dec(&item.data, "unitPrice"), &ctx))
}

/// Keeps `currencies.exchangeRate` (units of the currency per unit of the local currency, as
/// Dataverse's `exchangerate`) at the latest rate that has started: exchange rate amount over
/// relational exchange rate amount.
async fn refresh_exchange_rate(tx: &mut Tx, code: &str, actor: Actor) -> Result<()> {
    let Some(currency) = lookup(tx, sets::CURRENCIES, "code", code).await? else { return Ok(()) };
    let rates = rows::find_all(
        tx,
        entity(sets::CURRENCY_EXCHANGE_RATES)?,
        "currencyCode",
        Json::String(code.to_owned()),
    )
    .await?;
    let today = today();
    let latest = rates
        .iter()
        .filter(|r| date(&r.data, "startingDate").is_some_and(|d| d <= today))
        .max_by_key(|r| date(&r.data, "startingDate"));
    let Some(latest) = latest else { return Ok(()) };
    let relational = dec(&latest.data, "relationalExchangeRateAmount");
    if relational.is_zero() {
        return Ok(());
    }
    let rate = (dec(&latest.data, "exchangeRateAmount") / relational).round_dp(10);
    if dec(&currency.data, "exchangeRate") == rate {
        return Ok(());
    }
    let mut patch = Map::new();
    set_dec(&mut patch, "exchangeRate", rate)?;
    let id = currency.id().ok_or_else(|| FinError::internal("currency without id"))?;
    rows::update(tx, entity(sets::CURRENCIES)?, id, &patch, Some(actor.0)).await?;
    Ok(())
}

/// The sums of the order's line amounts (excluding, including tax).
async fn lines_total(tx: &mut Tx, order_id: Uuid) -> Result<(Decimal, Decimal)> {
    let lines = entity(sets::SALES_ORDER_LINES)?;
    let all = rows::find_all(tx, lines, "documentId", Json::String(order_id.to_string())).await?;
    let excl: Decimal = all.iter().map(|l| dec(&l.data, "amountExcludingTax")).sum();
    let incl: Decimal = all.iter().map(|l| dec(&l.data, "amountIncludingTax")).sum();
    Ok((excl, incl))
}

/// Recomputes an order's totals from its lines (after a line changed).
async fn refresh_order_totals(tx: &mut Tx, order_id: Uuid, actor: Actor) -> Result<()> {
    let lines = entity(sets::SALES_ORDER_LINES)?;
    let orders = entity(sets::SALES_ORDERS)?;
    let _ = lines;
    let (excl, incl) = lines_total(tx, order_id).await?;
    let discount = match rows::get(tx, orders, order_id).await? {
        Some(o) => dec(&o.data, "discountAmount"),
        None => return Ok(()),
    };
    let mut patch = Map::new();
    set_dec(&mut patch, "totalAmountExcludingTax", excl - discount)?;
    set_dec(&mut patch, "totalTaxAmount", incl - excl)?;
    set_dec(&mut patch, "totalAmountIncludingTax", incl - discount)?;
    match rows::update(tx, orders, order_id, &patch, Some(actor.0)).await {
        Ok(_) | Err(FinError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Alternate keys must be unique: a clear 409 before the database's unique index answers.
async fn check_unique(
    tx: &mut Tx,
    e: &EntityType,
    rec: &Map<String, Json>,
    self_id: Option<Uuid>,
) -> Result<()> {
    for key in &e.alternate_keys {
        if key.len() != 1 {
            continue;
        }
        let field = &key[0];
        let Some(v) = rec.get(field).filter(|v| !v.is_null()) else { continue };
        if let Some(other) = rows::find(tx, e, field, v.clone(), false).await?
            && other.id() != self_id
        {
            return Err(FinError::Duplicate(format!(
                "The {} already exists. Identification fields and values: {field}='{}'",
                e.name,
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            )));
        }
    }
    if let Some(id) = self_id.filter(|_| false) {
        let _ = id;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Creates a record in `set`. `parent`: the order id when posting to
/// `salesOrders(<id>)/salesOrderLines`. Accepts a client-chosen `id`; a taken id or number is a
/// 409. Deep insert of `salesOrderLines` into a new order is supported.
pub async fn create(
    tx: &mut Tx,
    set: &str,
    mut body: Map<String, Json>,
    parent: Option<Uuid>,
    actor: Actor,
) -> Result<Record> {
    let e = entity(set)?;
    if read_only_set(set) || set == sets::COMPANIES {
        return Err(method_not_allowed("POST", set));
    }
    let password = take_password(set, &mut body)?;
    let deep_lines = if set == sets::SALES_ORDERS { body.remove("salesOrderLines") } else { None };
    if set == sets::ITEMS
        && body.get("inventory").is_some_and(|v| !v.is_null() && v != &Json::from(0))
    {
        return Err(FinError::Invalid {
            code: "Application_DialogException",
            field: Some("inventory".into()),
            message: "Inventory cannot be changed during on insert.".into(),
        });
    }
    if set == sets::ITEMS {
        body.remove("inventory");
    }
    let mut rec = check_body(e, &body, true, None)?;
    if let Some(order) = parent {
        if let Some(given) = guid(&rec, "documentId")
            && given != order
        {
            return Err(FinError::invalid(
                "documentId",
                "The value for \"documentId\" does not match the order in the URL.",
            ));
        }
        rec.insert("documentId".into(), Json::String(order.to_string()));
    }
    if let Some(id) = guid(&rec, "id")
        && rows::get(tx, e, id).await?.is_some()
    {
        return Err(FinError::Duplicate(format!(
            "The {} already exists. Identification fields and values: id='{id}'",
            e.name
        )));
    }
    prepare(tx, set, &mut rec, None).await?;
    check_unique(tx, e, &rec, None).await?;
    let mut created = rows::insert(tx, e, &rec, Some(actor.0)).await?;
    let id = created.id().ok_or_else(|| FinError::internal("created row without id"))?;
    if let Some(p) = password {
        users::set_password(tx, id, &p).await?;
    }
    match set {
        sets::CURRENCY_EXCHANGE_RATES => {
            if let Some(code) = text(&rec, "currencyCode") {
                refresh_exchange_rate(tx, &code, actor).await?;
            }
        }
        sets::SALES_ORDER_LINES => {
            if let Some(order) = guid(&rec, "documentId") {
                refresh_order_totals(tx, order, actor).await?;
            }
        }
        sets::SALES_ORDERS => {
            if let Some(lines) = deep_lines {
                let Json::Array(lines) = lines else {
                    return Err(FinError::invalid(
                        "salesOrderLines",
                        "'salesOrderLines' must be an array of lines.",
                    ));
                };
                for line in lines {
                    let Json::Object(line) = line else {
                        return Err(FinError::invalid(
                            "salesOrderLines",
                            "Each sales order line must be an object.",
                        ));
                    };
                    Box::pin(create(tx, sets::SALES_ORDER_LINES, line, Some(id), actor)).await?;
                }
                created = rows::get(tx, e, id)
                    .await?
                    .ok_or_else(|| FinError::internal("order vanished"))?;
            }
        }
        _ => {}
    }
    Ok(created)
}

/// BC's item `inventory` PATCH: posts a positive or negative adjustment for the difference.
async fn adjust_inventory(
    tx: &mut Tx,
    item: &Record,
    target: &Json,
    actor: Actor,
) -> Result<Record> {
    let target = match target {
        Json::Number(n) => n.to_string().parse::<Decimal>().ok(),
        Json::String(s) => s.trim().parse::<Decimal>().ok(),
        _ => None,
    }
    .ok_or_else(|| FinError::invalid("inventory", "The value of 'inventory' must be a number."))?;
    let current = dec(&item.data, "inventory");
    let delta = target - current;
    if delta.is_zero() {
        return Ok(item.clone());
    }
    if item.str("type") != Some("Inventory") {
        return Err(FinError::invalid(
            "inventory",
            "Only items of type Inventory have an inventory.",
        ));
    }
    let id = item.id().ok_or_else(|| FinError::internal("item without id"))?;
    let entry_no = numbering::next_entry_no(tx, series::ITEM_LEDGER_ENTRIES).await?;
    let unit_cost = dec(&item.data, "unitCost");
    let row = obj(serde_json::json!({
        "entryNumber": entry_no,
        "itemId": id.to_string(),
        "itemNumber": item.str("number"),
        "postingDate": today().to_string(),
        "entryType": if delta.is_sign_positive() { "Positive Adjmt." } else { "Negative Adjmt." },
        "sourceType": " ",
        "documentType": " ",
        "documentNumber": format!("ADJ{entry_no}"),
        "description": "Inventory adjustment",
        "unitOfMeasureCode": item.str("baseUnitOfMeasureCode"),
        "quantity": d(delta)?,
        "salesAmountActual": 0,
        "costAmountActual": d(posting::round_amount(delta * unit_cost))?,
    }));
    rows::insert(tx, entity(sets::ITEM_LEDGER_ENTRIES)?, &row, Some(actor.0)).await?;
    let mut patch = Map::new();
    patch.insert("inventory".into(), d(target)?);
    rows::update(tx, entity(sets::ITEMS)?, id, &patch, Some(actor.0)).await
}

fn take_password(set: &str, body: &mut Map<String, Json>) -> Result<Option<Secret>> {
    if set != sets::USERS {
        return Ok(None);
    }
    match body.remove("password") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(Secret::new(s))),
        Some(_) => Err(FinError::invalid("password", "The password must be a string.")),
    }
}

/// Updates `id` in `set` with `patch`; with `if_match`, the stored version must equal it (412).
/// An unknown id without `if_match` creates the record (upsert by key).
pub async fn update(
    tx: &mut Tx,
    set: &str,
    id: Uuid,
    mut patch: Map<String, Json>,
    if_match: Option<i64>,
    parent: Option<Uuid>,
    actor: Actor,
) -> Result<(Record, bool)> {
    let e = entity(set)?;
    if read_only_set(set) {
        return Err(method_not_allowed("PATCH", set));
    }
    let old = match rows::find(tx, e, "id", Json::String(id.to_string()), true).await? {
        Some(old) => old,
        None if if_match.is_none() && set != sets::COMPANIES => {
            patch.insert("id".into(), Json::String(id.to_string()));
            return Ok((create(tx, set, patch, parent, actor).await?, true));
        }
        None => return Err(FinError::NotFound(format!("The {} does not exist.", e.name))),
    };
    if let Some(v) = if_match
        && v != old.version
    {
        return Err(FinError::Changed);
    }
    let password = take_password(set, &mut patch)?;
    let new_inventory = if set == sets::ITEMS { patch.remove("inventory") } else { None };
    let checked = check_body(e, &patch, false, Some(id))?;
    if let Some(order) = parent
        && guid(&old.data, "documentId") != Some(order)
    {
        return Err(FinError::NotFound(format!("The {} does not exist.", e.name)));
    }
    let mut rec = old.data.clone();
    for (k, v) in &checked {
        rec.insert(k.clone(), v.clone());
    }
    prepare(tx, set, &mut rec, Some(&old)).await?;
    check_unique(tx, e, &rec, Some(id)).await?;
    let diff: Map<String, Json> =
        rec.into_iter().filter(|(k, v)| old.data.get(k) != Some(v)).collect();
    if let Some(p) = password {
        users::set_password(tx, id, &p).await?;
    }
    let mut updated = rows::update(tx, e, id, &diff, Some(actor.0)).await?;
    if let Some(target) = new_inventory {
        updated = adjust_inventory(tx, &updated, &target, actor).await?;
    }
    if set == sets::CURRENCY_EXCHANGE_RATES {
        for code in [old.str("currencyCode"), updated.str("currencyCode")].into_iter().flatten() {
            refresh_exchange_rate(tx, code, actor).await?;
        }
        return Ok((rows::get(tx, e, id).await?.unwrap_or(updated), false));
    }
    if set == sets::SALES_ORDER_LINES {
        refresh_order_totals(tx, guid(&updated.data, "documentId").unwrap_or_default(), actor)
            .await?;
        return Ok((rows::get(tx, e, id).await?.unwrap_or(updated), false));
    }
    Ok((updated, false))
}

/// What a delete removes besides the row itself (lines of an order), checked against the rules.
/// Returns the (set, id) pairs to delete, children first. The store deletes them and writes the
/// tombstones.
pub async fn plan_delete(
    tx: &mut Tx,
    set: &str,
    id: Uuid,
    if_match: Option<i64>,
    parent: Option<Uuid>,
) -> Result<Vec<(&'static str, Uuid)>> {
    let e = entity(set)?;
    if read_only_set(set) || set == sets::COMPANIES {
        return Err(method_not_allowed("DELETE", set));
    }
    let old = rows::find(tx, e, "id", Json::String(id.to_string()), true)
        .await?
        .ok_or_else(|| FinError::NotFound(format!("The {} does not exist.", e.name)))?;
    if let Some(v) = if_match
        && v != old.version
    {
        return Err(FinError::Changed);
    }
    let mut out = Vec::new();
    match set {
        sets::CUSTOMERS => {
            let orders = rows::find_all(
                tx,
                entity(sets::SALES_ORDERS)?,
                "customerId",
                Json::String(id.to_string()),
            )
            .await?;
            if !orders.is_empty() {
                return Err(FinError::Rule(format!(
                    "You cannot delete Customer {} because there is at least one outstanding Sales Order for this customer.",
                    old.str("number").unwrap_or_default()
                )));
            }
        }
        sets::ITEMS => {
            let no = old.str("number").unwrap_or_default().to_owned();
            let entries = rows::find(
                tx,
                entity(sets::ITEM_LEDGER_ENTRIES)?,
                "itemNumber",
                Json::String(no.clone()),
                false,
            )
            .await?;
            if entries.is_some() {
                return Err(FinError::Rule(format!(
                    "You cannot delete Item {no} because it has ledger entries."
                )));
            }
        }
        sets::SALES_ORDERS => {
            let lines = rows::find_all(
                tx,
                entity(sets::SALES_ORDER_LINES)?,
                "documentId",
                Json::String(id.to_string()),
            )
            .await?;
            for l in lines {
                if let Some(lid) = l.id() {
                    out.push((sets::SALES_ORDER_LINES, lid));
                }
            }
        }
        sets::SALES_ORDER_LINES => {
            let order = guid(&old.data, "documentId").unwrap_or_default();
            if parent.is_some_and(|p| p != order) {
                return Err(FinError::NotFound(format!("The {} does not exist.", e.name)));
            }
            open_order(tx, order).await?;
        }
        sets::USERS => {
            tx.execute_sql(
                "DELETE FROM fin_user_secret WHERE user_id = $1",
                vec![Value::from(id.to_string())],
            )
            .await?;
        }
        _ => {}
    }
    let set_static: &'static str = &e.set_name;
    out.push((set_static, id));
    Ok(out)
}

/// After a delete: keeps computed fields of the parent in step (order totals).
pub async fn after_delete(tx: &mut Tx, set: &str, deleted: &Record, actor: Actor) -> Result<()> {
    if set == sets::CURRENCY_EXCHANGE_RATES
        && let Some(code) = deleted.str("currencyCode")
    {
        refresh_exchange_rate(tx, code, actor).await?;
    }
    if set == sets::SALES_ORDER_LINES
        && let Some(order) = guid(&deleted.data, "documentId")
    {
        refresh_order_totals(tx, order, actor).await?;
    }
    Ok(())
}

/// A snapshot of the order for posting, with its lines, customer and items locked.
async fn posting_input(tx: &mut Tx, order_id: Uuid) -> Result<posting::PostingInput> {
    let orders = entity(sets::SALES_ORDERS)?;
    let order = rows::find(tx, orders, "id", Json::String(order_id.to_string()), true)
        .await?
        .ok_or_else(|| FinError::NotFound("The sales order does not exist.".into()))?;
    let customers = entity(sets::CUSTOMERS)?;
    let customer_id = guid(&order.data, "customerId").unwrap_or_default();
    let customer = rows::find(tx, customers, "id", Json::String(customer_id.to_string()), true)
        .await?
        .ok_or_else(|| FinError::Rule("The customer of the sales order does not exist.".into()))?;
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
    })
}

/// The rows to write for a plan, in model JSON.
fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn d(x: Decimal) -> Result<Json> {
    decimal_json(x).map_err(|e| FinError::internal(e.message))
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
