//! The table descriptions behind the generic lists and cards ([`crate::lists`]): for each
//! Financials entity its window names, columns, search fields, sort keys, card fields, the
//! integration table mapping that couples it, and how its Sales records are searched and named.

/// A column of a list: the property shown, its caption, and the `sort` parameter that orders
/// the list by it (`None`: not sortable).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub property: &'static str,
    pub caption: &'static str,
    pub sort: Option<&'static str>,
}

const fn sorted(property: &'static str, caption: &'static str, sort: &'static str) -> Column {
    Column { property, caption, sort: Some(sort) }
}

const fn plain(property: &'static str, caption: &'static str) -> Column {
    Column { property, caption, sort: None }
}

/// How the Sales records of a mapping are searched and shown on Set Up Coupling.
#[derive(Debug, Clone, Copy)]
pub struct SalesTable {
    /// Singular and plural, lower case, without "Sales" ("account", "accounts").
    pub noun: &'static str,
    pub plural: &'static str,
    /// Caption of the link on the card ("Sales Account").
    pub caption: &'static str,
    /// The fields shown, with captions; the first `searched` of them are searched.
    pub fields: &'static [(&'static str, &'static str)],
    /// What the search label says it searches ("name or account number").
    pub search_label: &'static str,
    /// The fields searched (`contains`, without regard to case).
    pub searched: &'static [&'static str],
    /// The field that names a record (the Couple button's label).
    pub name_field: &'static str,
}

/// One Financials table as its list and card show it.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The URL segment (`customers` → `/customers`, `/customers/{id}`).
    pub slug: &'static str,
    /// The Financials entity set.
    pub set: &'static str,
    /// Window names, as in Business Central.
    pub list_title: &'static str,
    pub card_title: &'static str,
    /// Singular and plural, lower case ("customer", "customers"), and the caption that starts a
    /// sentence ("Customer").
    pub noun: &'static str,
    pub plural: &'static str,
    pub caption: &'static str,
    /// The list's columns; the first links to the card. The first sortable one is the default
    /// order.
    pub columns: &'static [Column],
    /// The properties the search box looks in (`contains`), and what its label says.
    pub searched: &'static [&'static str],
    pub search_label: &'static str,
    /// The card's fields: (property, label).
    pub card: &'static [(&'static str, &'static str)],
    /// The properties that name a record: its number (or code) and its name.
    pub number_field: &'static str,
    pub name_field: &'static str,
    /// The properties the card's heading shows, joined by a space (the number when empty).
    pub heading: &'static [&'static str],
    /// The integration table mapping that couples it.
    pub mapping: &'static str,
    pub sales: SalesTable,
}

impl Table {
    /// The list's path (`/customers`).
    pub fn base(&self) -> String {
        format!("/{}", self.slug)
    }
    /// An HTML id made of the singular (`unit-of-measure`).
    pub fn ident(&self) -> String {
        ident(self.noun)
    }
    /// An HTML id made of the plural (`units-of-measure`).
    pub fn plural_ident(&self) -> String {
        ident(self.plural)
    }
}

/// `text` lower case with spaces and slashes as hyphens, for HTML ids and form fields.
pub fn ident(text: &str) -> String {
    text.to_lowercase().replace([' ', '/'], "-")
}

pub const CUSTOMERS: Table = Table {
    slug: "customers",
    set: "customers",
    list_title: "Customer List",
    card_title: "Customer Card",
    noun: "customer",
    plural: "customers",
    caption: "Customer",
    columns: &[
        sorted("number", "No.", "number"),
        sorted("displayName", "Name", "name"),
        sorted("city", "City", "city"),
        plain("phoneNumber", "Phone No."),
        plain("balanceDue", "Balance (LCY)"),
    ],
    searched: &["number", "displayName"],
    search_label: "Search by number or name",
    card: &[
        ("number", "No."),
        ("displayName", "Name"),
        ("addressLine1", "Address"),
        ("postalCode", "Post Code"),
        ("city", "City"),
        ("country", "Country/Region Code"),
        ("phoneNumber", "Phone No."),
        ("email", "Email"),
        ("salespersonCode", "Salesperson Code"),
        ("currencyCode", "Currency Code"),
        ("creditLimit", "Credit Limit (LCY)"),
        ("balanceDue", "Balance (LCY)"),
        ("blocked", "Blocked"),
    ],
    number_field: "number",
    name_field: "displayName",
    heading: &["displayName"],
    mapping: "CUSTOMER",
    sales: SalesTable {
        noun: "account",
        plural: "accounts",
        caption: "Sales Account",
        fields: &[
            ("accountnumber", "Account Number"),
            ("name", "Account Name"),
            ("address1_city", "City"),
        ],
        search_label: "name or account number",
        searched: &["accountnumber", "name", "address1_city"],
        name_field: "name",
    },
};

pub const CONTACTS: Table = Table {
    slug: "contacts",
    set: "contacts",
    list_title: "Contact List",
    card_title: "Contact Card",
    noun: "contact",
    plural: "contacts",
    caption: "Contact",
    columns: &[
        sorted("number", "No.", "number"),
        sorted("displayName", "Name", "name"),
        sorted("companyName", "Company Name", "company"),
        plain("type", "Type"),
        plain("phoneNumber", "Phone No."),
        plain("email", "Email"),
    ],
    searched: &["number", "displayName", "companyName"],
    search_label: "Search by number, name or company",
    card: &[
        ("number", "No."),
        ("type", "Type"),
        ("displayName", "Name"),
        ("companyNumber", "Company No."),
        ("companyName", "Company Name"),
        ("jobTitle", "Job Title"),
        ("addressLine1", "Address"),
        ("postalCode", "Post Code"),
        ("city", "City"),
        ("country", "Country/Region Code"),
        ("phoneNumber", "Phone No."),
        ("mobilePhoneNumber", "Mobile Phone No."),
        ("email", "Email"),
    ],
    number_field: "number",
    name_field: "displayName",
    heading: &["displayName"],
    mapping: "CONTACT",
    sales: SalesTable {
        noun: "contact",
        plural: "contacts",
        caption: "Sales Contact",
        fields: &[("fullname", "Full Name"), ("emailaddress1", "Email"), ("jobtitle", "Job Title")],
        search_label: "name or email",
        searched: &["fullname", "emailaddress1"],
        name_field: "fullname",
    },
};

pub const ITEMS: Table = Table {
    slug: "items",
    set: "items",
    list_title: "Item List",
    card_title: "Item Card",
    noun: "item",
    plural: "items",
    caption: "Item",
    columns: &[
        sorted("number", "No.", "number"),
        sorted("displayName", "Description", "description"),
        plain("type", "Type"),
        sorted("inventory", "Inventory", "inventory"),
        plain("baseUnitOfMeasureCode", "Base Unit of Measure"),
        sorted("unitPrice", "Unit Price", "price"),
        plain("unitCost", "Unit Cost"),
    ],
    searched: &["number", "displayName"],
    search_label: "Search by number or description",
    card: &[
        ("number", "No."),
        ("displayName", "Description"),
        ("type", "Type"),
        ("itemCategoryCode", "Item Category Code"),
        ("baseUnitOfMeasureCode", "Base Unit of Measure"),
        ("inventory", "Inventory"),
        ("unitPrice", "Unit Price"),
        ("unitCost", "Unit Cost"),
        ("gtin", "GTIN"),
        ("blocked", "Blocked"),
    ],
    number_field: "number",
    name_field: "displayName",
    heading: &["displayName"],
    mapping: "ITEM-PRODUCT",
    sales: SalesTable {
        noun: "product",
        plural: "products",
        caption: "Sales Product",
        fields: &[("productnumber", "Product ID"), ("name", "Name"), ("price", "List Price")],
        search_label: "name or product ID",
        searched: &["productnumber", "name"],
        name_field: "name",
    },
};

pub const SALESPEOPLE: Table = Table {
    slug: "salespeople",
    set: "salespeople",
    list_title: "Salespersons/Purchasers",
    card_title: "Salesperson/Purchaser Card",
    noun: "salesperson",
    plural: "salespeople",
    caption: "Salesperson",
    columns: &[
        sorted("code", "Code", "code"),
        sorted("displayName", "Name", "name"),
        plain("email", "Email"),
        plain("phoneNumber", "Phone No."),
        plain("jobTitle", "Job Title"),
    ],
    searched: &["code", "displayName", "email"],
    search_label: "Search by code, name or email",
    card: &[
        ("code", "Code"),
        ("displayName", "Name"),
        ("jobTitle", "Job Title"),
        ("email", "Email"),
        ("phoneNumber", "Phone No."),
        ("blocked", "Blocked"),
    ],
    number_field: "code",
    name_field: "displayName",
    heading: &["displayName"],
    mapping: "SALESPEOPLE",
    sales: SalesTable {
        noun: "user",
        plural: "users",
        caption: "Sales User",
        fields: &[("fullname", "Full Name"), ("internalemailaddress", "Primary Email")],
        search_label: "name or email",
        searched: &["fullname", "internalemailaddress"],
        name_field: "fullname",
    },
};

pub const CURRENCIES: Table = Table {
    slug: "currencies",
    set: "currencies",
    list_title: "Currencies",
    card_title: "Currency Card",
    noun: "currency",
    plural: "currencies",
    caption: "Currency",
    columns: &[
        sorted("code", "Code", "code"),
        sorted("displayName", "Description", "description"),
        plain("symbol", "Symbol"),
        plain("isoCode", "ISO Code"),
        plain("exchangeRate", "Exchange Rate"),
    ],
    searched: &["code", "displayName"],
    search_label: "Search by code or description",
    card: &[
        ("code", "Code"),
        ("displayName", "Description"),
        ("symbol", "Symbol"),
        ("isoCode", "ISO Code"),
        ("amountDecimalPlaces", "Amount Decimal Places"),
        ("amountRoundingPrecision", "Amount Rounding Precision"),
        ("exchangeRate", "Exchange Rate"),
    ],
    number_field: "code",
    name_field: "displayName",
    heading: &["displayName"],
    mapping: "CURRENCY",
    sales: SalesTable {
        noun: "transaction currency",
        plural: "transaction currencies",
        caption: "Sales Transaction Currency",
        fields: &[("isocurrencycode", "Currency Code"), ("currencyname", "Currency Name")],
        search_label: "currency code or name",
        searched: &["isocurrencycode", "currencyname"],
        name_field: "currencyname",
    },
};

pub const UNITS_OF_MEASURE: Table = Table {
    slug: "units-of-measure",
    set: "unitsOfMeasure",
    list_title: "Units of Measure",
    card_title: "Unit of Measure Card",
    noun: "unit of measure",
    plural: "units of measure",
    caption: "Unit of measure",
    columns: &[
        sorted("code", "Code", "code"),
        sorted("displayName", "Description", "description"),
        plain("internationalStandardCode", "International Standard Code"),
        plain("symbol", "Symbol"),
    ],
    searched: &["code", "displayName"],
    search_label: "Search by code or description",
    card: &[
        ("code", "Code"),
        ("displayName", "Description"),
        ("internationalStandardCode", "International Standard Code"),
        ("symbol", "Symbol"),
    ],
    number_field: "code",
    name_field: "displayName",
    heading: &["displayName"],
    mapping: "UNIT OF MEASURE",
    sales: SalesTable {
        noun: "unit group",
        plural: "unit groups",
        caption: "Sales Unit Group",
        fields: &[("name", "Name"), ("baseuomname", "Base Unit"), ("description", "Description")],
        search_label: "name",
        searched: &["name", "description"],
        name_field: "name",
    },
};

pub const CUSTOMER_PRICE_GROUPS: Table = Table {
    slug: "customer-price-groups",
    set: "customerPriceGroups",
    list_title: "Customer Price Groups",
    card_title: "Customer Price Group Card",
    noun: "customer price group",
    plural: "customer price groups",
    caption: "Customer price group",
    columns: &[sorted("code", "Code", "code"), sorted("displayName", "Description", "description")],
    searched: &["code", "displayName"],
    search_label: "Search by code or description",
    card: &[("code", "Code"), ("displayName", "Description")],
    number_field: "code",
    name_field: "displayName",
    heading: &["displayName"],
    mapping: "CUSTPRCGRP-PRICE",
    sales: SalesTable {
        noun: "price list",
        plural: "price lists",
        caption: "Sales Price List",
        fields: &[("name", "Name"), ("description", "Description")],
        search_label: "name or description",
        searched: &["name", "description"],
        name_field: "name",
    },
};

pub const SALES_PRICES: Table = Table {
    slug: "sales-prices",
    set: "salesPrices",
    list_title: "Sales Prices",
    card_title: "Sales Price Card",
    noun: "sales price",
    plural: "sales prices",
    caption: "Sales price",
    columns: &[
        sorted("itemNumber", "Item No.", "item"),
        sorted("customerPriceGroupCode", "Sales Code", "group"),
        plain("currencyCode", "Currency Code"),
        plain("unitOfMeasureCode", "Unit of Measure Code"),
        plain("minimumQuantity", "Minimum Quantity"),
        sorted("unitPrice", "Unit Price", "price"),
        sorted("startingDate", "Starting Date", "starting"),
        plain("endingDate", "Ending Date"),
    ],
    searched: &["itemNumber", "customerPriceGroupCode"],
    search_label: "Search by item number or customer price group",
    card: &[
        ("itemNumber", "Item No."),
        ("customerPriceGroupCode", "Sales Code"),
        ("currencyCode", "Currency Code"),
        ("unitOfMeasureCode", "Unit of Measure Code"),
        ("minimumQuantity", "Minimum Quantity"),
        ("unitPrice", "Unit Price"),
        ("startingDate", "Starting Date"),
        ("endingDate", "Ending Date"),
    ],
    number_field: "itemNumber",
    name_field: "customerPriceGroupCode",
    heading: &["itemNumber", "customerPriceGroupCode"],
    mapping: "SALESPRC-PRODPRICE",
    sales: SalesTable {
        noun: "price list item",
        plural: "price list items",
        caption: "Sales Price List Item",
        fields: &[("productnumber", "Product ID"), ("amount", "Amount")],
        search_label: "product ID",
        searched: &["productnumber"],
        name_field: "productnumber",
    },
};

/// Every table with a list and a card, in the navigation's order.
pub const TABLES: [&Table; 8] = [
    &CUSTOMERS,
    &CONTACTS,
    &ITEMS,
    &SALESPEOPLE,
    &CURRENCIES,
    &UNITS_OF_MEASURE,
    &CUSTOMER_PRICE_GROUPS,
    &SALES_PRICES,
];
