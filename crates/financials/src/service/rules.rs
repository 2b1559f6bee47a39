//! Per-set rules: the body check against the model, defaults, number series, lookups that must
//! exist, computed fields (line amounts, order totals, exchange rates) and uniqueness.

use super::json::*;
#[allow(unused_imports)]
use super::*;

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

pub(super) async fn lookup(
    tx: &mut Tx,
    set: &str,
    property: &str,
    value: &str,
) -> Result<Option<Record>> {
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
pub(super) async fn must_exist(
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
pub(super) async fn resolve_pair(
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

pub(super) fn became(rec: &Map<String, Json>, old: Option<&Record>, field: &str) -> bool {
    match old {
        None => rec.get(field).is_some_and(|v| !v.is_null()),
        Some(o) => o.data.get(field) != rec.get(field),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-set rules
// ---------------------------------------------------------------------------------------------

pub(super) async fn assign_number(
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
pub(super) async fn prepare(
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
            if let Some(id) = guid(rec, "shipmentMethodId")
                && lookup(tx, sets::SHIPMENT_METHODS, "id", &id.to_string()).await?.is_none()
            {
                return Err(FinError::missing_reference(
                    "shipmentMethodId",
                    "The Shipment Method does not exist.",
                ));
            }
            must_exist(
                tx,
                rec,
                "shippingAgentCode",
                sets::SHIPPING_AGENTS,
                "code",
                "Shipping Agent",
            )
            .await?;
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
        | sets::SHIPMENT_METHODS
        | sets::SHIPPING_AGENTS
        | sets::SALESPEOPLE
        | sets::CUSTOMER_PRICE_GROUPS => {
            let code = required(rec, "code")?;
            rec.insert("code".into(), Json::String(code.to_uppercase()));
            if set == sets::PAYMENT_TERMS {
                default(rec, "discountPercent", Json::from(0));
                for f in ["dueDateCalculation", "discountDateCalculation"] {
                    if let Some(formula) = text(rec, f)
                        && crate::date_formula::apply(&formula, today()).is_none()
                    {
                        return Err(FinError::invalid(
                            f,
                            format!(
                                "'{formula}' is not a date formula (e.g. 14D, 1M, CM, CM+10D)."
                            ),
                        ));
                    }
                }
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
            // A base unit given as one of the item's unit of measure rows (the integration's
            // Unit Group Mapping writes it) sets the base unit to that row's code; a new item
            // gets the row from its base unit instead.
            match old {
                None => {
                    rec.remove("baseItemUnitOfMeasureId");
                }
                Some(o) if became(rec, old, "baseItemUnitOfMeasureId") => {
                    if let Some(row) = guid(rec, "baseItemUnitOfMeasureId") {
                        let unit = lookup(tx, sets::ITEM_UNITS_OF_MEASURE, "id", &row.to_string())
                            .await?
                            .filter(|u| guid(&u.data, "itemId") == o.id())
                            .ok_or_else(|| {
                                FinError::missing_reference(
                                    "baseItemUnitOfMeasureId",
                                    format!(
                                        "The Item Unit of Measure does not exist. Identification fields and values: Item No.='{}', Id='{row}'",
                                        o.str("number").unwrap_or_default()
                                    ),
                                )
                            })?;
                        rec.insert(
                            "baseUnitOfMeasureCode".into(),
                            unit.data.get("code").cloned().unwrap_or(Json::Null),
                        );
                        rec.insert("baseUnitOfMeasureId".into(), Json::Null);
                    }
                }
                Some(_) => {}
            }
            // A new base unit given by id or by code alone replaces the other of the pair.
            if old.is_some() && !became(rec, old, "baseItemUnitOfMeasureId") {
                let (by_id, by_code) = (
                    became(rec, old, "baseUnitOfMeasureId"),
                    became(rec, old, "baseUnitOfMeasureCode"),
                );
                if by_id && !by_code {
                    rec.insert("baseUnitOfMeasureCode".into(), Json::Null);
                } else if by_code && !by_id {
                    rec.insert("baseUnitOfMeasureId".into(), Json::Null);
                }
            }
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
        sets::ITEM_UNITS_OF_MEASURE | sets::RESOURCE_UNITS_OF_MEASURE => {
            // An item's or a resource's unit: the owner, then the same rules for both.
            let owner = if set == sets::ITEM_UNITS_OF_MEASURE {
                (("itemId", "itemNumber"), sets::ITEMS, "Item")
            } else {
                (("resourceId", "resourceNumber"), sets::RESOURCES, "Resource")
            };
            resolve_pair(tx, rec, owner.0, (owner.1, "number"), owner.2, true).await?;
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
            let stays_super = perms.has(PermissionSet::Super)
                && text(rec, "state").as_deref() == Some(users::ENABLED);
            if let Some(o) = old
                && is_enabled_super(o)
                && !stays_super
            {
                ensure_another_super(tx, o).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

pub(super) async fn prepare_order(
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

/// Whether a stored user is an enabled SUPER.
pub(super) fn is_enabled_super(user: &Record) -> bool {
    user.str("state") == Some(users::ENABLED)
        && Permissions::parse(user.str("permissionSets").unwrap_or_default())
            .is_ok_and(|p| p.has(PermissionSet::Super))
}

/// Refuses to take away the last enabled SUPER user (nobody could manage users any more).
pub(super) async fn ensure_another_super(tx: &mut Tx, user: &Record) -> Result<()> {
    let all =
        rows::find_all(tx, entity(sets::USERS)?, "state", Json::String(users::ENABLED.into()))
            .await?;
    if all.iter().any(|u| u.id() != user.id() && is_enabled_super(u)) {
        return Ok(());
    }
    Err(FinError::Rule(format!(
        "You cannot remove the SUPER permission set from {} or disable it: it is the last enabled user with SUPER.",
        user.str("userName").unwrap_or_default()
    )))
}

/// The order of a line, which must be open.
pub(super) async fn open_order(tx: &mut Tx, order_id: Uuid) -> Result<Record> {
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

pub(super) async fn prepare_line(
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
pub(super) async fn qty_per_unit(
    tx: &mut Tx,
    item_no: &str,
    uom: &str,
    base: &str,
) -> Result<Decimal> {
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

pub(super) async fn price_for(
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
pub(super) async fn refresh_exchange_rate(tx: &mut Tx, code: &str, actor: Actor) -> Result<()> {
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
pub(super) async fn lines_total(tx: &mut Tx, order_id: Uuid) -> Result<(Decimal, Decimal)> {
    let lines = entity(sets::SALES_ORDER_LINES)?;
    let all = rows::find_all(tx, lines, "documentId", Json::String(order_id.to_string())).await?;
    let excl: Decimal = all.iter().map(|l| dec(&l.data, "amountExcludingTax")).sum();
    let incl: Decimal = all.iter().map(|l| dec(&l.data, "amountIncludingTax")).sum();
    Ok((excl, incl))
}

/// Recomputes an order's totals from its lines (after a line changed).
pub(super) async fn refresh_order_totals(tx: &mut Tx, order_id: Uuid, actor: Actor) -> Result<()> {
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
pub(super) async fn check_unique(
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
