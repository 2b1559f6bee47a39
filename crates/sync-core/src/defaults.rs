//! The default mapping set: Business Central's default integration table and field mappings
//! (domain-reference §2) in Kontor's API names — Financials API v2.0 on one side, Dataverse
//! logical names on the other.

use serde_json::json;

use crate::filter::Filter;
use crate::mapping::{
    DeletionPolicy, Direction, FieldMapping as F, MappingKind, MappingSet, RecommendationRule,
    TableMapping, TableSide, Transformation, UpdateConflictPolicy,
};
use crate::types::Side;

use Direction::{Bidirectional as Both, FromIntegrationTable as From, ToIntegrationTable as To};

fn side(
    set: &str,
    key: &str,
    caption: &str,
    display_field: &str,
    filter: Option<&str>,
) -> TableSide {
    TableSide {
        set: set.into(),
        key: key.into(),
        caption: caption.into(),
        display_field: display_field.into(),
        filter: filter.map(|f| Filter::parse(f).expect("the default filters parse")),
    }
}

#[allow(clippy::too_many_arguments)]
fn mapping(
    name: &str,
    financials: TableSide,
    sales: TableSide,
    plural: &str,
    direction: Direction,
    dependency_filter: &str,
    recommendation: RecommendationRule,
    fields: Vec<F>,
) -> TableMapping {
    TableMapping {
        name: name.into(),
        financials,
        sales,
        plural: plural.into(),
        direction,
        synch_only_coupled: true,
        dependency_filter: dependency_filter.into(),
        update_conflict: UpdateConflictPolicy::Fail,
        deletion_conflict: DeletionPolicy::Fail,
        create_if_no_match: false,
        recommendation,
        enabled: true,
        kind: MappingKind::Table,
        fields,
    }
}

/// An option mapping: Financials codes ↔ the values of a Sales option set column (Business
/// Central's CDS Payment Terms / Shipment Method / Shipping Agent Code enums), coupled by
/// matching the code with the option label.
fn option_mapping(
    name: &str,
    financials: TableSide,
    column: &str,
    caption: &str,
    plural: &str,
) -> TableMapping {
    let mut m = mapping(
        name,
        financials,
        side("accounts", column, caption, "label", None),
        plural,
        To,
        "",
        RecommendationRule::OptionMapping,
        vec![
            F::new("code", "label", To).transform(Transformation::Code { max: 10 }).match_field(),
            F::new("displayName", "label", To),
        ],
    );
    m.kind = MappingKind::OptionSet;
    m
}

/// Names of the default mappings, in dependency order.
pub const DEFAULT_MAPPING_NAMES: &[&str] = &[
    "SALESPEOPLE",
    "CURRENCY",
    "UNIT OF MEASURE",
    "PAYMENT TERMS",
    "SHIPMENT METHOD",
    "SHIPPING AGENT",
    "CUSTOMER",
    "CONTACT",
    "ITEM-PRODUCT",
    "RESOURCE-PRODUCT",
    "CUSTPRCGRP-PRICE",
    "SALESPRC-PRODPRICE",
    "SALESORDER-ORDER",
    "SOLINE-ORDERDETAIL",
    "POSTEDSALESINV-INV",
    "POSTEDSALESLINE-INV",
];

/// The default mapping set. Document mappings (sales orders, posted invoices) are defined but
/// disabled: enable them explicitly.
/// The parties of a sales document (order or posted invoice) as Sales sees them: the customer's
/// account, the currency and the owner, each through its mapping's couplings.
fn document_parties() -> Vec<F> {
    vec![
        F::new("customerId", "_customerid_value", To).lookup(
            "CUSTOMER",
            "id",
            "customerid_account",
            "accounts",
        ),
        F::new("currencyCode", "_transactioncurrencyid_value", To)
            .lookup("CURRENCY", "code", "transactioncurrencyid", "transactioncurrencies")
            .insert_only(),
        F::new("salesperson", "_ownerid_value", To).lookup(
            "SALESPEOPLE",
            "code",
            "ownerid",
            "systemusers",
        ),
    ]
}

/// Plain fields written to Sales: (Financials field, Sales column) pairs.
fn ship_to(pairs: &[(&str, &str)]) -> Vec<F> {
    pairs.iter().map(|(fin, crm)| F::new(fin, crm, To)).collect()
}

pub fn default_mappings() -> MappingSet {
    let mut set = vec![
        // Salesperson/Purchaser <- systemuser (Person ownership model).
        {
            let mut m = mapping(
                "SALESPEOPLE",
                side("salespeople", "id", "Salesperson", "code", None),
                side(
                    "systemusers",
                    "systemuserid",
                    "Sales user",
                    "fullname",
                    Some("isdisabled eq false"),
                ),
                "salespeople",
                From,
                "",
                RecommendationRule::AlwaysFull,
                vec![
                    F::new("email", "internalemailaddress", From).match_field(),
                    F::new("displayName", "fullname", From)
                        .transform(Transformation::Truncate { max: 50 }),
                    F::new("phoneNumber", "mobilephone", From),
                    F::new("code", "fullname", From)
                        .transform(Transformation::Code { max: 20 })
                        .insert_only(),
                ],
            );
            m.create_if_no_match = true;
            m
        },
        // Currency -> transactioncurrency.
        {
            let mut m = mapping(
                "CURRENCY",
                side("currencies", "id", "Currency", "code", None),
                side(
                    "transactioncurrencies",
                    "transactioncurrencyid",
                    "Sales transaction currency",
                    "isocurrencycode",
                    None,
                ),
                "currencies",
                To,
                "",
                RecommendationRule::Currency,
                vec![
                    F::new("code", "isocurrencycode", To).match_field(),
                    F::new("symbol", "currencysymbol", To),
                    F::new("displayName", "currencyname", To),
                    F::new("exchangeRate", "exchangerate", To),
                    F::constant(Side::Sales, "currencyprecision", json!(2)).insert_only(),
                ],
            );
            m.create_if_no_match = true;
            m
        },
        // Unit of Measure -> uomschedule (legacy, Unit Group Mapping off).
        {
            let mut m = mapping(
                "UNIT OF MEASURE",
                side("unitsOfMeasure", "id", "Unit of measure", "code", None),
                side("uomschedules", "uomscheduleid", "Sales unit group", "name", None),
                "units of measure",
                To,
                "",
                RecommendationRule::UnitGroup,
                vec![
                    F::new("code", "name", To).match_field(),
                    F::new("code", "baseuomname", To).insert_only(),
                    F::new("displayName", "description", To),
                ],
            );
            m.create_if_no_match = true;
            m
        },
        // Payment Terms -> account.paymenttermscode (option mapping).
        option_mapping(
            "PAYMENT TERMS",
            side("paymentTerms", "id", "Payment terms", "code", None),
            "paymenttermscode",
            "Sales payment terms option",
            "payment terms",
        ),
        // Shipment Method -> account.address1_freighttermscode (option mapping).
        option_mapping(
            "SHIPMENT METHOD",
            side("shipmentMethods", "id", "Shipment method", "code", None),
            "address1_freighttermscode",
            "Sales freight terms option",
            "shipment methods",
        ),
        // Shipping Agent -> account.address1_shippingmethodcode (option mapping).
        option_mapping(
            "SHIPPING AGENT",
            side("shippingAgents", "id", "Shipping agent", "code", None),
            "address1_shippingmethodcode",
            "Sales shipping method option",
            "shipping agents",
        ),
        // Customer <-> account.
        mapping(
            "CUSTOMER",
            side(
                "customers",
                "id",
                "Customer",
                "number",
                Some("blocked eq ' ' or blocked eq null"),
            ),
            side(
                "accounts",
                "accountid",
                "Sales account",
                "name",
                Some("statecode eq 0 and customertypecode eq 3"),
            ),
            "customers",
            Both,
            "SALESPEOPLE|CURRENCY|PAYMENT TERMS|SHIPMENT METHOD|SHIPPING AGENT",
            RecommendationRule::Default,
            vec![
                F::new("salespersonCode", "_ownerid_value", To).lookup(
                    "SALESPEOPLE",
                    "code",
                    "ownerid",
                    "systemusers",
                ),
                F::new("displayName", "name", Both),
                F::new("number", "accountnumber", To).match_field(),
                F::new("addressLine1", "address1_line1", Both),
                F::new("addressLine2", "address1_line2", Both),
                F::new("postalCode", "address1_postalcode", Both),
                F::new("city", "address1_city", Both),
                F::new("country", "address1_country", Both),
                F::new("state", "address1_stateorprovince", Both),
                F::new("currencyCode", "_transactioncurrencyid_value", Both)
                    .lookup("CURRENCY", "code", "transactioncurrencyid", "transactioncurrencies")
                    .blank_when_uncoupled(),
                F::new("email", "emailaddress1", Both),
                F::new("website", "websiteurl", Both),
                F::new("phoneNumber", "telephone1", Both),
                F::new("creditLimit", "creditlimit", To),
                F::new("paymentTermsId", "paymenttermscode", Both)
                    .option_lookup("PAYMENT TERMS", "id"),
                F::new("shipmentMethodId", "address1_freighttermscode", Both)
                    .option_lookup("SHIPMENT METHOD", "id"),
                F::new("shippingAgentCode", "address1_shippingmethodcode", Both)
                    .option_lookup("SHIPPING AGENT", "code"),
                F::constant(Side::Sales, "customertypecode", json!(3)),
            ],
        ),
        // Contact <-> contact (persons of a customer company).
        mapping(
            "CONTACT",
            side(
                "contacts",
                "id",
                "Contact",
                "number",
                Some("type eq 'Person' and companyNumber ne ''"),
            ),
            side(
                "contacts",
                "contactid",
                "Sales contact",
                "fullname",
                Some("statecode eq 0 and _parentcustomerid_value ne null"),
            ),
            "contacts",
            Both,
            "CUSTOMER|VENDOR",
            RecommendationRule::Default,
            vec![
                F::new("companyNumber", "_parentcustomerid_value", Both).lookup(
                    "CUSTOMER",
                    "number",
                    "parentcustomerid_account",
                    "accounts",
                ),
                F::new("displayName", "firstname", To).transform(Transformation::FirstName),
                F::new("displayName", "lastname", To).transform(Transformation::LastName),
                F::new("displayName", "fullname", From),
                F::new("jobTitle", "jobtitle", Both),
                F::new("addressLine1", "address1_line1", Both),
                F::new("city", "address1_city", Both),
                F::new("country", "address1_country", Both),
                F::new("postalCode", "address1_postalcode", Both),
                F::new("email", "emailaddress1", Both).match_field(),
                F::new("phoneNumber", "telephone1", Both),
                F::new("mobilePhoneNumber", "mobilephone", Both),
                F::constant(Side::Financials, "type", json!("Person")),
            ],
        ),
        // Item <-> product.
        mapping(
            "ITEM-PRODUCT",
            side("items", "id", "Item", "number", Some("blocked eq false")),
            side(
                "products",
                "productid",
                "Sales product",
                "productnumber",
                Some("producttypecode eq 1"),
            ),
            "items",
            Both,
            "UNIT OF MEASURE",
            RecommendationRule::Default,
            vec![
                F::new("number", "productnumber", To).match_field(),
                F::new("displayName", "name", Both),
                F::new("unitPrice", "price", To),
                F::new("unitCost", "standardcost", To),
                F::new("unitCost", "currentcost", To),
                F::new("inventory", "quantityonhand", To).transform(Transformation::NonNegative),
                F::new("baseUnitOfMeasureCode", "_defaultuomscheduleid_value", Both).lookup(
                    "UNIT OF MEASURE",
                    "code",
                    "defaultuomscheduleid",
                    "uomschedules",
                ),
                F::constant(Side::Sales, "producttypecode", json!(1)),
            ],
        ),
        // Resource <-> product (services).
        mapping(
            "RESOURCE-PRODUCT",
            side("resources", "id", "Resource", "number", Some("blocked eq false")),
            side(
                "products",
                "productid",
                "Sales product",
                "productnumber",
                Some("producttypecode eq 3"),
            ),
            "resources",
            Both,
            "UNIT OF MEASURE",
            RecommendationRule::Default,
            vec![
                F::new("number", "productnumber", To).match_field(),
                F::new("displayName", "name", Both),
                F::new("unitPrice", "price", To),
                F::new("unitCost", "standardcost", To),
                F::new("unitCost", "currentcost", To),
                F::new("baseUnitOfMeasureCode", "_defaultuomscheduleid_value", Both).lookup(
                    "UNIT OF MEASURE",
                    "code",
                    "defaultuomscheduleid",
                    "uomschedules",
                ),
                F::constant(Side::Sales, "producttypecode", json!(3)),
            ],
        ),
        // Customer Price Group -> pricelevel (legacy pricing).
        mapping(
            "CUSTPRCGRP-PRICE",
            side("customerPriceGroups", "id", "Customer price group", "code", None),
            side("pricelevels", "pricelevelid", "Sales price list", "name", None),
            "customer price groups",
            To,
            "CURRENCY|ITEM-PRODUCT",
            RecommendationRule::Default,
            vec![
                F::new("code", "name", To).match_field(),
                F::new("displayName", "description", To),
            ],
        ),
        // Sales Price -> productpricelevel (legacy pricing).
        {
            let mut m = mapping(
                "SALESPRC-PRODPRICE",
                side(
                    "salesPrices",
                    "id",
                    "Sales price",
                    "itemNumber",
                    Some("customerPriceGroupCode ne ''"),
                ),
                side(
                    "productpricelevels",
                    "productpricelevelid",
                    "Sales price list item",
                    "productnumber",
                    None,
                ),
                "sales prices",
                To,
                "CUSTPRCGRP-PRICE|ITEM-PRODUCT",
                RecommendationRule::Default,
                vec![
                    F::new("customerPriceGroupCode", "_pricelevelid_value", To)
                        .lookup("CUSTPRCGRP-PRICE", "code", "pricelevelid", "pricelevels")
                        .insert_only(),
                    F::new("itemId", "_productid_value", To).lookup(
                        "ITEM-PRODUCT",
                        "id",
                        "productid",
                        "products",
                    ),
                    F::new("unitOfMeasureCode", "_uomscheduleid_value", To).lookup(
                        "UNIT OF MEASURE",
                        "code",
                        "uomscheduleid",
                        "uomschedules",
                    ),
                    F::new("currencyCode", "_transactioncurrencyid_value", To)
                        .lookup(
                            "CURRENCY",
                            "code",
                            "transactioncurrencyid",
                            "transactioncurrencies",
                        )
                        .disabled(),
                    F::new("unitPrice", "amount", To),
                    F::constant(Side::Sales, "pricingmethodcode", json!(1)),
                ],
            );
            m.synch_only_coupled = false;
            m
        },
        // Sales Header -> salesorder (legacy, one-way; disabled by default).
        {
            let mut m = mapping(
                "SALESORDER-ORDER",
                side("salesOrders", "id", "Sales order", "number", Some("status eq 'Released'")),
                side("salesorders", "salesorderid", "Sales order", "ordernumber", None),
                "sales orders",
                To,
                "CUSTOMER|ITEM-PRODUCT|RESOURCE-PRODUCT",
                RecommendationRule::Default,
                [
                    vec![
                        F::new("number", "ordernumber", To).insert_only(),
                        F::new("externalDocumentNumber", "name", To),
                    ],
                    document_parties(),
                    vec![
                        F::new("requestedDeliveryDate", "requestdeliveryby", To),
                        F::new("discountAmount", "discountamount", To),
                    ],
                    ship_to(&[
                        ("shipToName", "shipto_name"),
                        ("shipToAddressLine1", "shipto_line1"),
                        ("shipToAddressLine2", "shipto_line2"),
                        ("shipToCity", "shipto_city"),
                        ("shipToPostCode", "shipto_postalcode"),
                        ("shipToCountry", "shipto_country"),
                        ("shipToState", "shipto_stateorprovince"),
                    ]),
                ]
                .concat(),
            );
            m.enabled = false;
            m
        },
        // Sales Line -> salesorderdetail: the item and resource lines of sales orders, each
        // under its order's coupled Sales order (same direction as SALESORDER-ORDER; disabled
        // with it by default).
        {
            let mut m = mapping(
                "SOLINE-ORDERDETAIL",
                side(
                    "salesOrderLines",
                    "id",
                    "Sales order line",
                    "description",
                    Some("lineType eq 'Item' or lineType eq 'Resource'"),
                ),
                side(
                    "salesorderdetails",
                    "salesorderdetailid",
                    "Sales order product",
                    "salesorderdetailname",
                    None,
                ),
                "sales order lines",
                To,
                "SALESORDER-ORDER",
                RecommendationRule::Default,
                vec![
                    F::new("documentId", "_salesorderid_value", To)
                        .lookup("SALESORDER-ORDER", "id", "salesorderid", "salesorders")
                        .insert_only(),
                    F::new("itemId", "_productid_value", To)
                        .lookup("ITEM-PRODUCT", "id", "productid", "products")
                        .when("lineType", &[json!("Item")]),
                    F::new("lineObjectNumber", "_productid_value", To)
                        .lookup("RESOURCE-PRODUCT", "number", "productid", "products")
                        .when("lineType", &[json!("Resource")]),
                    F::new("sequence", "kontor_financialslinenumber", To),
                    F::new("quantity", "quantity", To),
                    F::new("shippedQuantity", "quantityshipped", To),
                    F::new("unitPrice", "priceperunit", To),
                    F::new("amountExcludingTax", "baseamount", To),
                    F::new("amountIncludingTax", "extendedamount", To),
                    F::constant(Side::Sales, "producttypecode", json!(1)).insert_only(),
                    F::constant(Side::Sales, "ispriceoverridden", json!(true)),
                ],
            );
            m.synch_only_coupled = false;
            m.deletion_conflict = DeletionPolicy::RemoveCoupling;
            m.enabled = false;
            m
        },
        // Sales Invoice Header -> invoice (posted invoices; disabled by default).
        {
            let mut m = mapping(
                "POSTEDSALESINV-INV",
                side(
                    "salesInvoices",
                    "id",
                    "Posted sales invoice",
                    "number",
                    Some("status ne 'Draft'"),
                ),
                side("invoices", "invoiceid", "Sales invoice", "invoicenumber", None),
                "posted sales invoices",
                To,
                "ITEM-PRODUCT|RESOURCE-PRODUCT|OPPORTUNITY",
                RecommendationRule::Default,
                [
                    vec![
                        F::new("number", "invoicenumber", To).insert_only(),
                        F::new("number", "name", To),
                    ],
                    document_parties(),
                    vec![
                        F::new("dueDate", "duedate", To),
                        F::new("discountAmount", "discountamount", To),
                        F::new("totalAmountExcludingTax", "totalamountlessfreight", To),
                        F::new("totalAmountIncludingTax", "totalamount", To),
                    ],
                    ship_to(&[
                        ("shipToName", "shipto_name"),
                        ("shipToAddressLine1", "shipto_line1"),
                        ("shipToCity", "shipto_city"),
                        ("shipToPostCode", "shipto_postalcode"),
                        ("shipToCountry", "shipto_country"),
                    ]),
                ]
                .concat(),
            );
            // Every posted invoice is created in Sales, also on incremental runs.
            m.synch_only_coupled = false;
            m.enabled = false;
            m
        },
        // Sales Invoice Line -> invoicedetail: the item and resource lines of posted invoices,
        // each under its invoice's coupled Sales invoice (disabled with it by default).
        {
            let mut m = mapping(
                "POSTEDSALESLINE-INV",
                side(
                    "salesInvoiceLines",
                    "id",
                    "Posted sales invoice line",
                    "description",
                    Some("lineType eq 'Item' or lineType eq 'Resource'"),
                ),
                side(
                    "invoicedetails",
                    "invoicedetailid",
                    "Sales invoice product",
                    "invoicedetailname",
                    None,
                ),
                "posted sales invoice lines",
                To,
                "POSTEDSALESINV-INV",
                RecommendationRule::Default,
                vec![
                    F::new("documentId", "_invoiceid_value", To)
                        .lookup("POSTEDSALESINV-INV", "id", "invoiceid", "invoices")
                        .insert_only(),
                    F::new("itemId", "_productid_value", To)
                        .lookup("ITEM-PRODUCT", "id", "productid", "products")
                        .when("lineType", &[json!("Item")]),
                    F::new("lineObjectNumber", "_productid_value", To)
                        .lookup("RESOURCE-PRODUCT", "number", "productid", "products")
                        .when("lineType", &[json!("Resource")]),
                    F::new("sequence", "lineitemnumber", To),
                    F::new("description", "invoicedetailname", To),
                    F::new("quantity", "quantity", To),
                    F::new("quantity", "quantityshipped", To),
                    F::new("unitPrice", "priceperunit", To),
                    F::new("amountExcludingTax", "baseamount", To),
                    F::new("totalTaxAmount", "tax", To),
                    F::new("amountIncludingTax", "extendedamount", To),
                    F::constant(Side::Sales, "ispriceoverridden", json!(true)),
                ],
            );
            m.synch_only_coupled = false;
            m.enabled = false;
            m
        },
    ];
    set.sort_by_key(|m| DEFAULT_MAPPING_NAMES.iter().position(|n| *n == m.name));
    MappingSet::new(set)
}

/// Options of the connection that change the default mapping set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MappingOptions {
    /// Business Central's "Unit Group Mapping": each item's and resource's unit group becomes a
    /// Sales unit group (UNIT GROUP) with the item's (resource's) units of measure as its units
    /// (ITEM UOM, RESOURCE UOM), and products refer to their item's unit group and base unit.
    /// Off: the legacy UNIT OF MEASURE mapping (one Sales unit group per unit of measure).
    #[serde(default)]
    pub unit_group_mapping: bool,
}

/// The unit group mappings, in dependency order (domain-reference §2: UNIT GROUP, ITEM UOM,
/// RESOURCE UOM).
pub const UNIT_GROUP_MAPPING_NAMES: &[&str] = &["UNIT GROUP", "ITEM UOM", "RESOURCE UOM"];

/// A unit of measure of an item or resource → a unit of its owner's Sales unit group, matched
/// by name within the group (the group's base unit, which Sales creates with the group, is
/// coupled this way).
fn owner_uom(name: &str, set: &str, owner_id: &str, caption: &str, plural: &str) -> TableMapping {
    let mut m = mapping(
        name,
        side(set, "id", caption, "code", None),
        side("uoms", "uomid", "Sales unit", "name", None),
        plural,
        To,
        "UNIT GROUP",
        RecommendationRule::UnitGroup,
        vec![
            F::new(owner_id, "_uomscheduleid_value", To)
                .lookup("UNIT GROUP", "sourceId", "uomscheduleid", "uomschedules")
                .insert_only()
                .match_field(),
            F::new("code", "name", To).match_field(),
            F::new("qtyPerUnitOfMeasure", "quantity", To),
        ],
    );
    m.create_if_no_match = true;
    m
}

/// The default mapping set for `options`: [`default_mappings`] when Unit Group Mapping is off.
/// On, UNIT OF MEASURE is disabled and UNIT GROUP, ITEM UOM and RESOURCE UOM follow it; the
/// products' unit fields look up their unit group and base unit; the legacy sales price's unit
/// field (a unit group in the legacy model) is disabled.
pub fn default_mappings_with(options: MappingOptions) -> MappingSet {
    let mut set = default_mappings();
    if !options.unit_group_mapping {
        return set;
    }
    let unit_group = {
        let mut m = mapping(
            "UNIT GROUP",
            side("unitGroups", "id", "Unit group", "code", None),
            side("uomschedules", "uomscheduleid", "Sales unit group", "name", None),
            "unit groups",
            To,
            "",
            RecommendationRule::UnitGroup,
            vec![
                F::new("code", "name", To).match_field(),
                F::new("baseUnitOfMeasureCode", "baseuomname", To).insert_only(),
                F::new("sourceName", "description", To),
            ],
        );
        m.create_if_no_match = true;
        m
    };
    let new = [
        unit_group,
        owner_uom(
            "ITEM UOM",
            "itemUnitsOfMeasure",
            "itemId",
            "Item unit of measure",
            "item units of measure",
        ),
        owner_uom(
            "RESOURCE UOM",
            "resourceUnitsOfMeasure",
            "resourceId",
            "Resource unit of measure",
            "resource units of measure",
        ),
    ];
    for m in &mut set.mappings {
        match m.name.as_str() {
            "UNIT OF MEASURE" => m.enabled = false,
            "ITEM-PRODUCT" | "RESOURCE-PRODUCT" => {
                let (uom, base) = if m.name == "ITEM-PRODUCT" {
                    ("ITEM UOM", "baseItemUnitOfMeasureId")
                } else {
                    ("RESOURCE UOM", "baseResourceUnitOfMeasureId")
                };
                m.dependency_filter = m.dependency_filter.replace("UNIT OF MEASURE", uom);
                m.fields.retain(|f| f.sales.as_deref() != Some("_defaultuomscheduleid_value"));
                // Sales cannot move a product to another unit group: set once, on create.
                m.fields.push(
                    F::new("id", "_defaultuomscheduleid_value", To)
                        .lookup("UNIT GROUP", "sourceId", "defaultuomscheduleid", "uomschedules")
                        .insert_only(),
                );
                // Items: Base Unit of Measure <-> defaultuomid; resources: -> only.
                let dir = if m.name == "ITEM-PRODUCT" { Both } else { To };
                m.fields.push(F::new(base, "_defaultuomid_value", dir).lookup(
                    uom,
                    "id",
                    "defaultuomid",
                    "uoms",
                ));
            }
            "SALESPRC-PRODPRICE" => {
                for f in &mut m.fields {
                    if f.sales.as_deref() == Some("_uomscheduleid_value") {
                        f.enabled = false;
                    }
                }
            }
            _ => {}
        }
    }
    let at = set.mappings.iter().position(|m| m.name == "UNIT OF MEASURE").map_or(0, |i| i + 1);
    set.mappings.splice(at..at, new);
    set
}
