//! The Financials entity model: every API v2.0 entity set, its table and columns.
//!
//! One `EntityType` per entity set; the column of a property is its camelCase name in snake_case.
//! Every type has `id` (the key, a GUID the client may choose on create), `lastModifiedDateTime`
//! (maintained by the store), `systemCreatedAt` and `systemModifiedBy` (the user who last wrote
//! the row, for the sync engine's echo suppression).

use std::sync::OnceLock;

use kontor_odata::model::{EdmType, EntityType, Model, Navigation, NavigationKind, Property};

/// CSDL namespace of the API, as Business Central's.
pub const NAMESPACE: &str = "Microsoft.NAV";

/// Entity set names, so callers do not spell them twice.
pub mod sets {
    pub const COMPANIES: &str = "companies";
    pub const CUSTOMERS: &str = "customers";
    pub const CONTACTS: &str = "contacts";
    pub const CURRENCIES: &str = "currencies";
    pub const CURRENCY_EXCHANGE_RATES: &str = "currencyExchangeRates";
    pub const UNITS_OF_MEASURE: &str = "unitsOfMeasure";
    pub const PAYMENT_TERMS: &str = "paymentTerms";
    pub const SHIPMENT_METHODS: &str = "shipmentMethods";
    pub const SHIPPING_AGENTS: &str = "shippingAgents";
    pub const ITEMS: &str = "items";
    pub const ITEM_UNITS_OF_MEASURE: &str = "itemUnitsOfMeasure";
    pub const RESOURCES: &str = "resources";
    pub const RESOURCE_UNITS_OF_MEASURE: &str = "resourceUnitsOfMeasure";
    /// Business Central's Unit Group table: one per item and per resource, kept by the domain.
    pub const UNIT_GROUPS: &str = "unitGroups";
    pub const SALESPEOPLE: &str = "salespeople";
    pub const CUSTOMER_PRICE_GROUPS: &str = "customerPriceGroups";
    pub const SALES_PRICES: &str = "salesPrices";
    pub const SALES_ORDERS: &str = "salesOrders";
    pub const SALES_ORDER_LINES: &str = "salesOrderLines";
    pub const SALES_INVOICES: &str = "salesInvoices";
    pub const SALES_INVOICE_LINES: &str = "salesInvoiceLines";
    pub const ITEM_LEDGER_ENTRIES: &str = "itemLedgerEntries";
    pub const CUSTOMER_LEDGER_ENTRIES: &str = "customerLedgerEntries";
    pub const USERS: &str = "users";
    /// The OData web service (`/ODataV4/Company('…')/ProductItemAvailability`).
    pub const PRODUCT_ITEM_AVAILABILITY: &str = "ProductItemAvailability";
}

/// The API v2.0 model (`/api/v2.0/$metadata`).
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(build_model)
}

/// The OData web services model (`/ODataV4/$metadata`): published pages.
pub fn web_services_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model {
        namespace: "NAV".to_owned(),
        container: "NAV".to_owned(),
        entity_types: vec![product_item_availability()],
    })
}

/// camelCase → snake_case (`displayName` → `display_name`).
pub fn column_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn p(name: &str, ty: EdmType) -> Property {
    Property::new(name, &column_name(name), ty)
}
fn s(name: &str, len: u32) -> Property {
    p(name, EdmType::String).max_length(len)
}
fn money(name: &str) -> Property {
    p(name, EdmType::MONEY)
}
fn qty(name: &str) -> Property {
    p(name, EdmType::Decimal { scale: 5 })
}
fn guid(name: &str) -> Property {
    p(name, EdmType::Guid)
}
fn flag(name: &str) -> Property {
    p(name, EdmType::Boolean).required()
}
fn date(name: &str) -> Property {
    p(name, EdmType::Date)
}

struct Builder {
    e: EntityType,
}

fn entity(name: &str, set: &str, table: &str) -> Builder {
    Builder {
        e: EntityType {
            name: name.to_owned(),
            set_name: set.to_owned(),
            table: table.to_owned(),
            key: "id".to_owned(),
            properties: vec![guid("id").required()],
            navigations: Vec::new(),
            alternate_keys: Vec::new(),
            created_property: Some("systemCreatedAt".to_owned()),
            modified_property: Some("lastModifiedDateTime".to_owned()),
        },
    }
}

impl Builder {
    fn props(mut self, props: impl IntoIterator<Item = Property>) -> Self {
        self.e.properties.extend(props);
        self
    }
    fn alt(mut self, key: &[&str]) -> Self {
        self.e.alternate_keys.push(key.iter().map(|k| (*k).to_owned()).collect());
        self
    }
    fn nav_one(mut self, name: &str, target: &str, local: &str) -> Self {
        self.e.navigations.push(Navigation {
            name: name.to_owned(),
            target_set: target.to_owned(),
            kind: NavigationKind::ToOne { local_property: local.to_owned() },
        });
        self
    }
    fn nav_many(mut self, name: &str, target: &str, remote: &str) -> Self {
        self.e.navigations.push(Navigation {
            name: name.to_owned(),
            target_set: target.to_owned(),
            kind: NavigationKind::ToMany { remote_property: remote.to_owned() },
        });
        self
    }
    fn build(mut self) -> EntityType {
        self.e.properties.extend([
            p("systemCreatedAt", EdmType::DateTimeOffset).read_only(),
            p("lastModifiedDateTime", EdmType::DateTimeOffset).read_only(),
            guid("systemModifiedBy").read_only(),
        ]);
        self.e
    }
}

fn address(prefix: &str) -> Vec<Property> {
    let n = |suffix: &str| {
        if prefix.is_empty() {
            let mut c = suffix.chars();
            let first = c.next().map(|f| f.to_ascii_lowercase()).unwrap_or_default();
            format!("{first}{}", c.as_str())
        } else {
            format!("{prefix}{suffix}")
        }
    };
    vec![
        s(&n("AddressLine1"), 100),
        s(&n("AddressLine2"), 50),
        s(&n("City"), 30),
        s(&n("State"), 30),
        s(&n("Country"), 10),
        s(&n(if prefix.is_empty() { "PostalCode" } else { "PostCode" }), 20),
    ]
}

fn build_model() -> Model {
    use sets::*;
    let company = entity("company", COMPANIES, "fin_company")
        .props([
            s("systemVersion", 30).read_only(),
            s("name", 30).required().read_only(),
            s("displayName", 250),
            s("businessProfileId", 250),
            s("experience", 20).required(),
            s("baseCurrencyCode", 10),
        ])
        .alt(&["name"])
        .build();

    let customer = entity("customer", CUSTOMERS, "fin_customer")
        .props([s("number", 20), s("displayName", 100), s("type", 10).required()])
        .props(address(""))
        .props([
            s("phoneNumber", 30),
            s("email", 80),
            s("website", 255),
            s("salespersonCode", 20),
            money("balanceDue").required().read_only(),
            money("creditLimit").required(),
            s("currencyCode", 10),
            guid("paymentTermsId"),
            s("customerPriceGroup", 10),
            s("blocked", 10).required(),
            guid("shipmentMethodId"),
            s("shippingAgentCode", 10),
        ])
        .alt(&["number"])
        .nav_one("paymentTerm", PAYMENT_TERMS, "paymentTermsId")
        .nav_one("shipmentMethod", SHIPMENT_METHODS, "shipmentMethodId")
        .nav_many("salesOrders", SALES_ORDERS, "customerId")
        .build();

    let contact = entity("contact", CONTACTS, "fin_contact")
        .props([
            s("number", 20),
            s("type", 10).required(),
            s("displayName", 100),
            s("jobTitle", 30),
            s("companyNumber", 20),
            s("companyName", 100).read_only(),
        ])
        .props(address(""))
        .props([
            s("phoneNumber", 30),
            s("mobilePhoneNumber", 30),
            s("email", 80),
            s("website", 255),
        ])
        .alt(&["number"])
        .build();

    let currency = entity("currency", CURRENCIES, "fin_currency")
        .props([
            s("code", 10).required(),
            s("displayName", 30),
            s("symbol", 10),
            s("isoCode", 3),
            s("amountDecimalPlaces", 5),
            money("amountRoundingPrecision").required(),
            p("exchangeRate", EdmType::RATE),
        ])
        .alt(&["code"])
        .nav_many("currencyExchangeRates", CURRENCY_EXCHANGE_RATES, "currencyId")
        .build();

    let exchange_rate =
        entity("currencyExchangeRate", CURRENCY_EXCHANGE_RATES, "fin_currency_exchange_rate")
            .props([
                guid("currencyId"),
                s("currencyCode", 10).required(),
                date("startingDate").required(),
                p("exchangeRateAmount", EdmType::RATE).required(),
                p("relationalExchangeRateAmount", EdmType::RATE).required(),
            ])
            .alt(&["currencyCode", "startingDate"])
            .build();

    let uom = entity("unitOfMeasure", UNITS_OF_MEASURE, "fin_unit_of_measure")
        .props([
            s("code", 10).required(),
            s("displayName", 50),
            s("internationalStandardCode", 10),
            s("symbol", 10),
        ])
        .alt(&["code"])
        .build();

    let payment_terms = entity("paymentTerm", PAYMENT_TERMS, "fin_payment_terms")
        .props([
            s("code", 10).required(),
            s("displayName", 50),
            s("dueDateCalculation", 32),
            s("discountDateCalculation", 32),
            p("discountPercent", EdmType::Decimal { scale: 5 }).required(),
        ])
        .alt(&["code"])
        .build();

    let shipment_method = entity("shipmentMethod", SHIPMENT_METHODS, "fin_shipment_method")
        .props([s("code", 10).required(), s("displayName", 100)])
        .alt(&["code"])
        .build();

    let shipping_agent = entity("shippingAgent", SHIPPING_AGENTS, "fin_shipping_agent")
        .props([s("code", 10).required(), s("displayName", 50), s("internetAddress", 250)])
        .alt(&["code"])
        .build();

    let item = entity("item", ITEMS, "fin_item")
        .props([
            s("number", 20),
            s("displayName", 100),
            s("displayName2", 50),
            s("type", 20).required(),
            s("itemCategoryCode", 20),
            flag("blocked"),
            s("gtin", 14),
            qty("inventory").required().read_only(),
            money("unitPrice").required(),
            money("unitCost").required(),
            flag("priceIncludesTax"),
            guid("baseUnitOfMeasureId"),
            s("baseUnitOfMeasureCode", 10),
            flag("preventNegativeInventory"),
            // Kontor: the item unit of measure row of the base unit (kept by the domain;
            // setting it on an existing item makes that row's unit the base unit).
            guid("baseItemUnitOfMeasureId"),
        ])
        .alt(&["number"])
        .nav_one("baseUnitOfMeasure", UNITS_OF_MEASURE, "baseUnitOfMeasureId")
        .nav_many("itemUnitsOfMeasure", ITEM_UNITS_OF_MEASURE, "itemId")
        .nav_many("itemLedgerEntries", ITEM_LEDGER_ENTRIES, "itemId")
        .build();

    let item_uom = entity("itemUnitOfMeasure", ITEM_UNITS_OF_MEASURE, "fin_item_unit_of_measure")
        .props([
            guid("itemId"),
            s("itemNumber", 20).required(),
            s("code", 10).required(),
            qty("qtyPerUnitOfMeasure").required(),
        ])
        .alt(&["itemNumber", "code"])
        .build();

    let resource = entity("resource", RESOURCES, "fin_resource")
        .props([
            s("number", 20),
            s("displayName", 100),
            s("type", 10).required(),
            s("baseUnitOfMeasureCode", 10),
            money("unitPrice").required(),
            money("unitCost").required(),
            flag("blocked"),
            // Kontor: the resource unit of measure row of the base unit (kept by the domain).
            guid("baseResourceUnitOfMeasureId").read_only(),
        ])
        .alt(&["number"])
        .nav_many("resourceUnitsOfMeasure", RESOURCE_UNITS_OF_MEASURE, "resourceId")
        .build();

    let resource_uom =
        entity("resourceUnitOfMeasure", RESOURCE_UNITS_OF_MEASURE, "fin_resource_unit_of_measure")
            .props([
                guid("resourceId"),
                s("resourceNumber", 20).required(),
                s("code", 10).required(),
                qty("qtyPerUnitOfMeasure").required(),
            ])
            .alt(&["resourceNumber", "code"])
            .build();

    // Read-only through the API: the domain creates one with each item and resource.
    let unit_group = entity("unitGroup", UNIT_GROUPS, "fin_unit_group")
        .props([
            s("sourceType", 10).required(),
            guid("sourceId").required(),
            s("sourceNumber", 20),
            s("code", 30).required(),
            s("sourceName", 100),
            s("baseUnitOfMeasureCode", 10),
        ])
        .alt(&["code"])
        .build();

    let salesperson = entity("salesperson", SALESPEOPLE, "fin_salesperson")
        .props([
            s("code", 20).required(),
            s("displayName", 50),
            s("email", 80),
            s("phoneNumber", 30),
            s("jobTitle", 30),
            flag("blocked"),
        ])
        .alt(&["code"])
        .build();

    let price_group =
        entity("customerPriceGroup", CUSTOMER_PRICE_GROUPS, "fin_customer_price_group")
            .props([s("code", 10).required(), s("displayName", 100)])
            .alt(&["code"])
            .nav_many("salesPrices", SALES_PRICES, "customerPriceGroupId")
            .build();

    let sales_price = entity("salesPrice", SALES_PRICES, "fin_sales_price")
        .props([
            guid("itemId"),
            s("itemNumber", 20).required(),
            guid("customerPriceGroupId"),
            s("customerPriceGroupCode", 10),
            s("currencyCode", 10),
            s("unitOfMeasureCode", 10),
            qty("minimumQuantity").required(),
            money("unitPrice").required(),
            date("startingDate"),
            date("endingDate"),
        ])
        .build();

    let sales_order = entity("salesOrder", SALES_ORDERS, "fin_sales_order")
        .props([
            s("number", 20),
            s("externalDocumentNumber", 35),
            date("orderDate"),
            date("postingDate"),
            guid("customerId"),
            s("customerNumber", 20),
            s("customerName", 100).read_only(),
        ])
        .props(address("sellTo"))
        .props([
            s("currencyCode", 10),
            s("customerPriceGroup", 10),
            s("salesperson", 20),
            date("requestedDeliveryDate"),
            money("totalAmountExcludingTax").required().read_only(),
            money("totalTaxAmount").required().read_only(),
            money("totalAmountIncludingTax").required().read_only(),
            flag("fullyShipped").read_only(),
            s("status", 20).required(),
            s("phoneNumber", 30),
            s("email", 80),
            money("discountAmount").required(),
            s("shipToName", 100),
            s("shipToContact", 100),
        ])
        .props(address("shipTo"))
        .alt(&["number"])
        .nav_many("salesOrderLines", SALES_ORDER_LINES, "documentId")
        .nav_one("customer", CUSTOMERS, "customerId")
        .build();

    let sales_order_line = entity("salesOrderLine", SALES_ORDER_LINES, "fin_sales_order_line")
        .props(document_line(true))
        .nav_one("item", ITEMS, "itemId")
        .build();

    let sales_invoice = entity("salesInvoice", SALES_INVOICES, "fin_sales_invoice")
        .props([
            s("number", 20).required().read_only(),
            s("externalDocumentNumber", 35).read_only(),
            date("invoiceDate").read_only(),
            date("postingDate").read_only(),
            date("dueDate").read_only(),
            guid("customerId").read_only(),
            s("customerNumber", 20).read_only(),
            s("customerName", 100).read_only(),
            s("currencyCode", 10).read_only(),
            s("salesperson", 20).read_only(),
            guid("orderId").read_only(),
            s("orderNumber", 20).read_only(),
            money("totalAmountExcludingTax").required().read_only(),
            money("totalTaxAmount").required().read_only(),
            money("totalAmountIncludingTax").required().read_only(),
            money("remainingAmount").required().read_only(),
            s("status", 20).required().read_only(),
            money("discountAmount").required().read_only(),
            s("shipToName", 100).read_only(),
            s("shipToContact", 100).read_only(),
        ])
        .props(address("shipTo").into_iter().map(Property::read_only))
        .alt(&["number"])
        .nav_many("salesInvoiceLines", SALES_INVOICE_LINES, "documentId")
        .nav_one("customer", CUSTOMERS, "customerId")
        .build();

    let sales_invoice_line =
        entity("salesInvoiceLine", SALES_INVOICE_LINES, "fin_sales_invoice_line")
            .props(document_line(false).into_iter().map(Property::read_only))
            .build();

    let item_ledger_entry = entity("itemLedgerEntry", ITEM_LEDGER_ENTRIES, "fin_item_ledger_entry")
        .props(
            [
                p("entryNumber", EdmType::Int64).required(),
                guid("itemId"),
                s("itemNumber", 20).required(),
                date("postingDate").required(),
                s("entryType", 30).required(),
                s("sourceType", 20).required(),
                s("sourceNumber", 20),
                s("documentType", 30).required(),
                s("documentNumber", 20),
                s("description", 100),
                s("unitOfMeasureCode", 10),
                qty("quantity").required(),
                money("salesAmountActual").required(),
                money("costAmountActual").required(),
            ]
            .into_iter()
            .map(Property::read_only),
        )
        .alt(&["entryNumber"])
        .build();

    let customer_ledger_entry =
        entity("customerLedgerEntry", CUSTOMER_LEDGER_ENTRIES, "fin_customer_ledger_entry")
            .props(
                [
                    p("entryNumber", EdmType::Int64).required(),
                    guid("customerId"),
                    s("customerNumber", 20).required(),
                    date("postingDate").required(),
                    s("documentType", 30).required(),
                    s("documentNumber", 20),
                    s("description", 100),
                    s("currencyCode", 10),
                    money("amount").required(),
                    money("amountLcy").required(),
                    money("remainingAmount").required(),
                    flag("open"),
                ]
                .into_iter()
                .map(Property::read_only),
            )
            .alt(&["entryNumber"])
            .build();

    let user = entity("user", USERS, "fin_user")
        .props([
            s("userName", 50).required(),
            s("fullName", 80),
            s("authenticationEmail", 250),
            s("state", 10).required(),
            s("permissionSets", 250).required(),
            p("webServiceKeyExpiry", EdmType::DateTimeOffset).read_only(),
            flag("hasWebServiceKey").read_only(),
        ])
        .alt(&["userName"])
        .build();

    Model {
        namespace: NAMESPACE.to_owned(),
        container: "NAV".to_owned(),
        entity_types: vec![
            company,
            customer,
            contact,
            currency,
            exchange_rate,
            uom,
            payment_terms,
            shipment_method,
            shipping_agent,
            item,
            item_uom,
            resource,
            resource_uom,
            unit_group,
            salesperson,
            price_group,
            sales_price,
            sales_order,
            sales_order_line,
            sales_invoice,
            sales_invoice_line,
            item_ledger_entry,
            customer_ledger_entry,
            user,
        ],
    }
}

/// The fields of a sales document line (orders when `order`, posted invoices otherwise).
fn document_line(order: bool) -> Vec<Property> {
    let mut v = vec![
        guid("documentId").required(),
        p("sequence", EdmType::Int32).required(),
        s("lineType", 20).required(),
        guid("itemId"),
        s("lineObjectNumber", 20),
        s("description", 100),
        s("unitOfMeasureCode", 10),
        qty("quantity").required(),
        money("unitPrice").required(),
        money("discountAmount").required(),
        p("discountPercent", EdmType::Decimal { scale: 5 }).required(),
        money("amountExcludingTax").required().read_only(),
        money("totalTaxAmount").required().read_only(),
        money("amountIncludingTax").required().read_only(),
        money("unitCost").required().read_only(),
    ];
    if order {
        v.push(date("shipmentDate"));
        v.push(qty("shippedQuantity").required().read_only());
        v.push(qty("invoicedQuantity").required().read_only());
    }
    v
}

/// BC's published page 5390 "Product Item Availability": a read-only view over items.
fn product_item_availability() -> EntityType {
    EntityType {
        name: "ProductItemAvailability".to_owned(),
        set_name: sets::PRODUCT_ITEM_AVAILABILITY.to_owned(),
        table: "fin_product_item_availability".to_owned(),
        key: "id".to_owned(),
        properties: vec![
            guid("id").required().read_only(),
            Property::new("ItemNo", "item_no", EdmType::String).max_length(20).read_only(),
            Property::new("UOM", "uom", EdmType::String).max_length(10).read_only(),
            Property::new("Inventory", "inventory", EdmType::Decimal { scale: 5 })
                .required()
                .read_only(),
            Property::new("CRM_ID", "crm_id", EdmType::Guid).read_only(),
        ],
        navigations: Vec::new(),
        alternate_keys: vec![vec!["ItemNo".to_owned()]],
        created_property: None,
        modified_property: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_navigation_points_at_an_existing_set_and_property() {
        let m = model();
        for e in &m.entity_types {
            assert!(e.property(&e.key).is_some(), "{} has its key", e.name);
            for n in &e.navigations {
                let target =
                    m.entity_set(&n.target_set).unwrap_or_else(|| panic!("{}.{}", e.name, n.name));
                match &n.kind {
                    NavigationKind::ToOne { local_property } => {
                        assert!(e.property(local_property).is_some(), "{}.{}", e.name, n.name)
                    }
                    NavigationKind::ToMany { remote_property } => {
                        assert!(target.property(remote_property).is_some(), "{}.{}", e.name, n.name)
                    }
                }
            }
            for k in &e.alternate_keys {
                for p in k {
                    assert!(e.property(p).is_some(), "{}: alternate key {p}", e.name);
                }
            }
        }
    }

    #[test]
    fn columns_are_snake_case_of_the_json_names() {
        assert_eq!(column_name("displayName"), "display_name");
        assert_eq!(column_name("addressLine1"), "address_line1");
        assert_eq!(column_name("id"), "id");
    }
}
