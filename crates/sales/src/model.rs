//! The Sales tables: Dataverse logical names, entity sets, attributes (entities-reference Part A).
//!
//! Everything an entity set needs beyond the OData model (lookup targets, option labels, object
//! type codes, the privilege names, which columns the Kontor solution unlocks) lives in
//! [`TableInfo`], next to the [`EntityType`] it describes. `_x_value` lookups are ordinary model
//! properties stored in column `x`; `x@odata.bind` is translated by the server using [`Lookup`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kontor_odata::model::{
    EdmType, EntityType, Model, Navigation, NavigationKind, Property, ROW_VERSION_COLUMN,
};

/// CSDL namespace of the Dataverse Web API.
pub const NAMESPACE: &str = "Microsoft.Dynamics.CRM";

/// The property that mirrors the store's row version (`versionnumber`, the ETag).
pub const VERSION_PROPERTY: &str = "versionnumber";

/// How rows of a table are owned (Dataverse `OwnershipType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    UserOwned,
    BusinessOwned,
    OrganizationOwned,
    None,
}

impl Ownership {
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::UserOwned => "UserOwned",
            Ownership::BusinessOwned => "BusinessOwned",
            Ownership::OrganizationOwned => "OrganizationOwned",
            Ownership::None => "None",
        }
    }
}

/// A lookup attribute: `_<attribute>_value` property, bound through one navigation per target.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// Logical name of the attribute (`parentcustomerid`).
    pub attribute: String,
    /// `(navigation name, target entity set, target logical name)`, e.g.
    /// `("parentcustomerid_account", "accounts", "account")`.
    pub targets: Vec<(String, String, String)>,
    /// For polymorphic lookups (Customer, Owner): the property holding the target's logical name
    /// (`parentcustomeridtype`).
    pub type_property: Option<String>,
    /// Only the server writes it (createdby, modifiedby).
    pub read_only: bool,
}

impl Lookup {
    /// The JSON property (`_parentcustomerid_value`).
    pub fn property(&self) -> String {
        format!("_{}_value", self.attribute)
    }
}

/// Everything about one table beyond the OData model.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Logical name (`account`).
    pub logical_name: String,
    /// Schema name used in privilege names (`Account` → `prvCreateAccount`).
    pub schema_name: String,
    pub object_type_code: i32,
    pub primary_name: Option<String>,
    pub ownership: Ownership,
    pub lookups: Vec<Lookup>,
    /// Option labels per Picklist/State/Status property, for formatted values.
    pub options: BTreeMap<String, Vec<(i32, String)>>,
    /// Properties only the Kontor integration solution exposes.
    pub solution_properties: Vec<String>,
    /// Properties valid on create only (IsValidForUpdate = false).
    pub create_only: Vec<String>,
    /// Properties the client may never write (computed or system-maintained).
    pub read_only: Vec<String>,
}

impl TableInfo {
    pub fn lookup_by_property(&self, property: &str) -> Option<&Lookup> {
        self.lookups.iter().find(|l| l.property() == property)
    }
    /// The lookup and target set bound through navigation `nav` (`customerid_account`).
    pub fn lookup_by_navigation(&self, nav: &str) -> Option<(&Lookup, &str, &str)> {
        self.lookups.iter().find_map(|l| {
            l.targets
                .iter()
                .find(|(n, _, _)| n == nav)
                .map(|(_, set, logical)| (l, set.as_str(), logical.as_str()))
        })
    }
    pub fn option_label(&self, property: &str, value: i64) -> Option<&str> {
        self.options
            .get(property)?
            .iter()
            .find(|(v, _)| i64::from(*v) == value)
            .map(|(_, l)| l.as_str())
    }
    pub fn is_read_only(&self, property: &str) -> bool {
        self.read_only.iter().any(|p| p == property)
    }
    pub fn is_create_only(&self, property: &str) -> bool {
        self.create_only.iter().any(|p| p == property)
    }
    pub fn is_solution_property(&self, property: &str) -> bool {
        self.solution_properties.iter().any(|p| p == property)
    }
}

/// The Sales model: the OData model plus per-table information, in the same order.
#[derive(Debug)]
pub struct SalesModel {
    pub odata: Model,
    pub tables: Vec<TableInfo>,
}

impl SalesModel {
    /// Entity type and table info of an entity set.
    pub fn set(&self, set_name: &str) -> Option<(&EntityType, &TableInfo)> {
        let i = self.odata.entity_types.iter().position(|e| e.set_name == set_name)?;
        Some((&self.odata.entity_types[i], &self.tables[i]))
    }
    pub fn by_logical_name(&self, name: &str) -> Option<(&EntityType, &TableInfo)> {
        let i = self.odata.entity_types.iter().position(|e| e.name == name)?;
        Some((&self.odata.entity_types[i], &self.tables[i]))
    }
    pub fn iter(&self) -> impl Iterator<Item = (&EntityType, &TableInfo)> {
        self.odata.entity_types.iter().zip(self.tables.iter())
    }
}

/// The OData model of Sales (every column, including the solution's).
pub fn model() -> &'static Model {
    &sales_model().odata
}

/// The full Sales model.
pub fn sales_model() -> &'static SalesModel {
    static MODEL: OnceLock<SalesModel> = OnceLock::new();
    MODEL.get_or_init(build)
}

/// The model the store is given: identical to [`model`] except that no property is read-only,
/// so the server (which enforces read-only attributes itself) can write createdby, fullname, ….
pub fn storage_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut m = model().clone();
        for e in &mut m.entity_types {
            for p in &mut e.properties {
                p.read_only = false;
            }
        }
        m
    })
}

// ---------------------------------------------------------------------------------------------
// Builder

struct Table {
    e: EntityType,
    t: TableInfo,
}

fn opts(list: &[(i32, &str)]) -> Vec<(i32, String)> {
    list.iter().map(|(v, l)| (*v, (*l).to_owned())).collect()
}

const PAYMENT_TERMS: &[(i32, &str)] =
    &[(1, "Net 30"), (2, "2% 10, Net 30"), (3, "Net 45"), (4, "Net 60")];
const FREIGHT_TERMS: &[(i32, &str)] = &[(1, "FOB"), (2, "No Charge")];
const SHIPPING_METHOD: &[(i32, &str)] = &[
    (1, "Airborne"),
    (2, "DHL"),
    (3, "FedEx"),
    (4, "UPS"),
    (5, "Postal Mail"),
    (6, "Full Load"),
    (7, "Will Call"),
];

impl Table {
    fn new(
        logical: &str,
        set: &str,
        schema: &str,
        otc: i32,
        primary_name: Option<&str>,
        ownership: Ownership,
    ) -> Table {
        let key = format!("{logical}id");
        let e = EntityType {
            name: logical.to_owned(),
            set_name: set.to_owned(),
            table: format!("crm_{logical}"),
            key: key.clone(),
            properties: vec![Property::new(&key, &key, EdmType::Guid).required()],
            navigations: vec![],
            alternate_keys: vec![],
            created_property: Some("createdon".to_owned()),
            modified_property: Some("modifiedon".to_owned()),
        };
        let t = TableInfo {
            logical_name: logical.to_owned(),
            schema_name: schema.to_owned(),
            object_type_code: otc,
            primary_name: primary_name.map(str::to_owned),
            ownership,
            lookups: vec![],
            options: BTreeMap::new(),
            solution_properties: vec![],
            create_only: vec![],
            read_only: vec![],
        };
        let mut table = Table { e, t };
        table.system_columns();
        table
    }

    fn system_columns(&mut self) {
        self.push(Property::new("createdon", "createdon", EdmType::DateTimeOffset).read_only());
        self.push(Property::new("modifiedon", "modifiedon", EdmType::DateTimeOffset).read_only());
        self.push(Property::new(VERSION_PROPERTY, ROW_VERSION_COLUMN, EdmType::Int64).read_only());
        self.lookup_ro("createdby", "systemusers", "systemuser");
        self.lookup_ro("modifiedby", "systemusers", "systemuser");
    }

    fn push(&mut self, p: Property) {
        if p.read_only {
            self.t.read_only.push(p.name.clone());
        }
        self.e.properties.push(p);
    }

    fn s(mut self, name: &str, len: u32) -> Self {
        self.push(Property::new(name, name, EdmType::String).max_length(len));
        self
    }
    fn strings(mut self, names: &[&str], len: u32) -> Self {
        for n in names {
            self = self.s(n, len);
        }
        self
    }
    fn s_ro(mut self, name: &str, len: u32) -> Self {
        self.push(Property::new(name, name, EdmType::String).max_length(len).read_only());
        self
    }
    fn int(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::Int32));
        self
    }
    fn dec(mut self, name: &str, scale: u8) -> Self {
        self.push(Property::new(name, name, EdmType::Decimal { scale }));
        self
    }
    fn money(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::MONEY));
        self
    }
    fn money_ro(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::MONEY).read_only());
        self
    }
    fn double(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::Double));
        self
    }
    fn boolean(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::Boolean));
        self
    }
    fn boolean_ro(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::Boolean).read_only());
        self
    }
    fn date(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::Date));
        self
    }
    fn guid(mut self, name: &str) -> Self {
        self.push(Property::new(name, name, EdmType::Guid));
        self
    }
    fn pick(mut self, name: &str, options: &[(i32, &str)]) -> Self {
        self.push(Property::new(name, name, EdmType::Int32));
        self.t.options.insert(name.to_owned(), opts(options));
        self
    }
    /// statecode + statuscode with their labels (`(status, label, state)` triples).
    fn state(mut self, states: &[(i32, &str)], statuses: &[(i32, &str, i32)]) -> Self {
        self = self.pick("statecode", states);
        let labels: Vec<(i32, &str)> = statuses.iter().map(|(v, l, _)| (*v, *l)).collect();
        self.pick("statuscode", &labels)
    }
    fn create_only(mut self, names: &[&str]) -> Self {
        self.t.create_only.extend(names.iter().map(|n| (*n).to_owned()));
        self
    }
    fn solution(mut self, names: &[&str]) -> Self {
        self.t.solution_properties.extend(names.iter().map(|n| (*n).to_owned()));
        self
    }
    fn alt_key(mut self, props: &[&str]) -> Self {
        self.e.alternate_keys.push(props.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    fn add_lookup(
        &mut self,
        attr: &str,
        targets: &[(&str, &str, &str)],
        type_prop: bool,
        ro: bool,
    ) {
        let prop = format!("_{attr}_value");
        let mut p = Property::new(&prop, attr, EdmType::Guid);
        if ro {
            p = p.read_only();
        }
        self.push(p);
        let type_property = if type_prop {
            let tp = format!("{attr}type");
            self.push(Property::new(&tp, &tp, EdmType::String).max_length(64).read_only());
            Some(tp)
        } else {
            None
        };
        for (nav, set, _) in targets {
            self.e.navigations.push(Navigation {
                name: (*nav).to_owned(),
                target_set: (*set).to_owned(),
                kind: NavigationKind::ToOne { local_property: prop.clone() },
            });
        }
        self.t.lookups.push(Lookup {
            attribute: attr.to_owned(),
            targets: targets
                .iter()
                .map(|(n, s, l)| ((*n).to_owned(), (*s).to_owned(), (*l).to_owned()))
                .collect(),
            type_property,
            read_only: ro,
        });
    }
    fn lookup_ro(&mut self, attr: &str, set: &str, logical: &str) {
        self.add_lookup(attr, &[(attr, set, logical)], false, true);
    }
    fn lookup(mut self, attr: &str, set: &str, logical: &str) -> Self {
        self.add_lookup(attr, &[(attr, set, logical)], false, false);
        self
    }
    /// A Customer lookup (account or contact).
    fn customer(mut self, attr: &str) -> Self {
        let a = format!("{attr}_account");
        let c = format!("{attr}_contact");
        self.add_lookup(
            attr,
            &[(a.as_str(), "accounts", "account"), (c.as_str(), "contacts", "contact")],
            true,
            false,
        );
        self
    }
    /// The owner (systemuser or team); navigation `ownerid`, bound to either set.
    fn owner(mut self) -> Self {
        self.add_lookup(
            "ownerid",
            &[("ownerid", "systemusers", "systemuser"), ("ownerid_team", "teams", "team")],
            true,
            false,
        );
        self
    }
    /// `name` → `namecollection` (ToMany) navigation, e.g. `order_details`.
    fn many(mut self, nav: &str, target_set: &str, remote_property: &str) -> Self {
        self.e.navigations.push(Navigation {
            name: nav.to_owned(),
            target_set: target_set.to_owned(),
            kind: NavigationKind::ToMany { remote_property: remote_property.to_owned() },
        });
        self
    }
    fn address1(self) -> Self {
        self.strings(
            &[
                "address1_line1",
                "address1_line2",
                "address1_line3",
                "address1_city",
                "address1_postalcode",
                "address1_country",
                "address1_stateorprovince",
            ],
            250,
        )
    }
    fn billto_shipto(self) -> Self {
        let mut t = self;
        for prefix in ["billto", "shipto"] {
            for f in [
                "name",
                "contactname",
                "line1",
                "line2",
                "line3",
                "city",
                "stateorprovince",
                "postalcode",
                "country",
                "telephone",
                "fax",
            ] {
                t = t.s(&format!("{prefix}_{f}"), 250);
            }
        }
        t.pick("shipto_freighttermscode", FREIGHT_TERMS)
    }
    fn done(self) -> (EntityType, TableInfo) {
        (self.e, self.t)
    }
}

const ACTIVE_INACTIVE: &[(i32, &str)] = &[(0, "Active"), (1, "Inactive")];
const ACTIVE_INACTIVE_STATUS: &[(i32, &str, i32)] = &[(1, "Active", 0), (2, "Inactive", 1)];

/// Valid `(statecode, statuscode)` pairs per table and the default status of each state.
pub fn state_model(logical_name: &str) -> Option<StateModel> {
    type Statuses = &'static [(i32, &'static str, i32)];
    type Defaults = &'static [(i32, i32)];
    let (statuses, defaults): (Statuses, Defaults) = match logical_name {
        "account" | "contact" | "transactioncurrency" | "uomschedule" => {
            (ACTIVE_INACTIVE_STATUS, &[(0, 1), (1, 2)])
        }
        "product" => (PRODUCT_STATUS, &[(0, 1), (1, 2), (2, 0), (3, 3)]),
        "pricelevel" => (PRICELEVEL_STATUS, &[(0, 100001), (1, 100002)]),
        "salesorder" => (SALESORDER_STATUS, &[(0, 1), (1, 3), (2, 4), (3, 100001), (4, 100003)]),
        "invoice" => (INVOICE_STATUS, &[(0, 1), (1, 100003), (2, 100001), (3, 100003)]),
        _ => return None,
    };
    Some(StateModel {
        pairs: statuses.iter().map(|(status, _, state)| (*state, *status)).collect(),
        defaults: defaults.to_vec(),
    })
}

/// The state/status pairs of one table (pure data; validation lives in `rules`).
#[derive(Debug, Clone, PartialEq)]
pub struct StateModel {
    /// `(statecode, statuscode)`.
    pub pairs: Vec<(i32, i32)>,
    /// `(statecode, default statuscode)`.
    pub defaults: Vec<(i32, i32)>,
}

const PRODUCT_STATES: &[(i32, &str)] =
    &[(0, "Active"), (1, "Retired"), (2, "Draft"), (3, "Under Revision")];
const PRODUCT_STATUS: &[(i32, &str, i32)] =
    &[(0, "Draft", 2), (1, "Active", 0), (2, "Retired", 1), (3, "Under Revision", 3)];
const PRICELEVEL_STATUS: &[(i32, &str, i32)] = &[(100001, "Active", 0), (100002, "Inactive", 1)];
const SALESORDER_STATES: &[(i32, &str)] =
    &[(0, "Active"), (1, "Submitted"), (2, "Canceled"), (3, "Fulfilled"), (4, "Invoiced")];
const SALESORDER_STATUS: &[(i32, &str, i32)] = &[
    (1, "New", 0),
    (2, "Pending", 0),
    (700970000, "In Progress", 0),
    (3, "In Progress", 1),
    (4, "No Money", 2),
    (100001, "Complete", 3),
    (100002, "Partial", 3),
    (100003, "Invoiced", 4),
];
const INVOICE_STATES: &[(i32, &str)] =
    &[(0, "Active"), (1, "Closed (deprecated)"), (2, "Paid"), (3, "Canceled")];
const INVOICE_STATUS: &[(i32, &str, i32)] = &[
    (1, "New", 0),
    (2, "Partially Shipped", 0),
    (4, "Billed", 0),
    (5, "Booked (applies to services)", 0),
    (6, "Installed (applies to services)", 0),
    (3, "Canceled (deprecated)", 1),
    (7, "Paid in Full (deprecated)", 1),
    (100001, "Complete", 2),
    (100002, "Partial", 2),
    (100003, "Canceled", 3),
];

fn build() -> SalesModel {
    use Ownership::*;
    let tables = vec![
        Table::new("systemuser", "systemusers", "SystemUser", 8, Some("fullname"), BusinessOwned)
            .s_ro("fullname", 200)
            .s("firstname", 256)
            .s("lastname", 256)
            .s("internalemailaddress", 100)
            .s("domainname", 1024)
            .lookup("businessunitid", "businessunits", "businessunit")
            .boolean("isdisabled")
            .boolean("islicensed")
            .pick(
                "accessmode",
                &[
                    (0, "Read-Write"),
                    (1, "Administrative"),
                    (2, "Read"),
                    (3, "Support User"),
                    (4, "Non-interactive"),
                    (5, "Delegated Admin"),
                ],
            )
            .guid("applicationid")
            .boolean_ro("isintegrationuser")
            .s("mobilephone", 64)
            .s("title", 128)
            .s("jobtitle", 100)
            .s("employeeid", 100)
            .lookup("parentsystemuserid", "systemusers", "systemuser")
            .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
            .address1()
            .s("address1_telephone1", 64)
            .s("address1_fax", 64)
            .alt_key(&["domainname"])
            .done(),
        Table::new(
            "businessunit",
            "businessunits",
            "BusinessUnit",
            10,
            Some("name"),
            BusinessOwned,
        )
        .s("name", 160)
        .lookup("parentbusinessunitid", "businessunits", "businessunit")
        .boolean_ro("isdisabled")
        .s("divisionname", 100)
        .s("emailaddress", 100)
        .s("websiteurl", 200)
        .double("creditlimit")
        .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
        .address1()
        .s("address1_telephone1", 50)
        .s("address1_fax", 50)
        .alt_key(&["name"])
        .done(),
        Table::new("role", "roles", "Role", 1036, Some("name"), BusinessOwned)
            .s("name", 100)
            .lookup("businessunitid", "businessunits", "businessunit")
            .pick(
                "isinherited",
                &[
                    (0, "Team privileges only"),
                    (1, "Direct User (Basic) access level and Team privileges"),
                ],
            )
            .boolean_ro("ismanaged")
            .create_only(&["_businessunitid_value"])
            .alt_key(&["name"])
            .done(),
        Table::new("team", "teams", "Team", 9, Some("name"), BusinessOwned)
            .s("name", 160)
            .lookup("businessunitid", "businessunits", "businessunit")
            .pick(
                "teamtype",
                &[(0, "Owner"), (1, "Access"), (2, "AAD Security Group"), (3, "AAD Office Group")],
            )
            .lookup("administratorid", "systemusers", "systemuser")
            .guid("azureactivedirectoryobjectid")
            .pick(
                "membershiptype",
                &[(0, "Members and guests"), (1, "Members"), (2, "Owners"), (3, "Guests")],
            )
            .boolean_ro("isdefault")
            .s("emailaddress", 100)
            .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
            .create_only(&["teamtype", "membershiptype", "azureactivedirectoryobjectid"])
            .alt_key(&["name"])
            .done(),
        Table::new(
            "transactioncurrency",
            "transactioncurrencies",
            "TransactionCurrency",
            9105,
            Some("currencyname"),
            OrganizationOwned,
        )
        .s("isocurrencycode", 5)
        .s("currencyname", 100)
        .s("currencysymbol", 10)
        .dec("exchangerate", 10)
        .int("currencyprecision")
        .pick("currencytype", &[(0, "System"), (1, "Custom")])
        .state(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS)
        .alt_key(&["isocurrencycode"])
        .done(),
        Table::new(
            "uomschedule",
            "uomschedules",
            "UoMSchedule",
            1056,
            Some("name"),
            OrganizationOwned,
        )
        .s("name", 200)
        .s("baseuomname", 100)
        .s("description", 2000)
        .state(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS)
        .create_only(&["baseuomname"])
        .many("uomschedule_uoms", "uoms", "_uomscheduleid_value")
        .alt_key(&["name"])
        .done(),
        Table::new("uom", "uoms", "UoM", 1055, Some("name"), None)
            .s("name", 100)
            .lookup("uomscheduleid", "uomschedules", "uomschedule")
            .lookup("baseuom", "uoms", "uom")
            .dec("quantity", 5)
            .boolean_ro("isschedulebaseuom")
            .create_only(&["_uomscheduleid_value"])
            .alt_key(&["name", "_uomscheduleid_value"])
            .done(),
        Table::new("product", "products", "Product", 1024, Some("name"), OrganizationOwned)
            .s("name", 100)
            .s("productnumber", 100)
            .pick(
                "producttypecode",
                &[
                    (1, "Sales Inventory"),
                    (2, "Miscellaneous Charges"),
                    (3, "Services"),
                    (4, "Flat Fees"),
                ],
            )
            .pick(
                "productstructure",
                &[(1, "Product"), (2, "Product Family"), (3, "Product Bundle")],
            )
            .lookup("defaultuomscheduleid", "uomschedules", "uomschedule")
            .lookup("defaultuomid", "uoms", "uom")
            .lookup("pricelevelid", "pricelevels", "pricelevel")
            .money("price")
            .money("standardcost")
            .money("currentcost")
            .dec("quantityonhand", 5)
            .int("quantitydecimal")
            .dec("stockvolume", 5)
            .dec("stockweight", 5)
            .strings(&["vendorname", "vendorpartnumber", "vendorid", "suppliername"], 100)
            .s("description", 2000)
            .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
            .lookup("parentproductid", "products", "product")
            .date("validfromdate")
            .date("validtodate")
            .state(PRODUCT_STATES, PRODUCT_STATUS)
            .create_only(&["productstructure"])
            .alt_key(&["productnumber"])
            .done(),
        Table::new(
            "pricelevel",
            "pricelevels",
            "PriceLevel",
            1022,
            Some("name"),
            OrganizationOwned,
        )
        .s("name", 100)
        .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
        .date("begindate")
        .date("enddate")
        .s("description", 2000)
        .pick("freighttermscode", &[(1, "Default Value")])
        .pick("paymentmethodcode", &[(1, "Default Value")])
        .pick("shippingmethodcode", &[(1, "Default Value")])
        .state(ACTIVE_INACTIVE, PRICELEVEL_STATUS)
        .many("price_level_product_price_levels", "productpricelevels", "_pricelevelid_value")
        .alt_key(&["name"])
        .done(),
        Table::new(
            "productpricelevel",
            "productpricelevels",
            "ProductPriceLevel",
            1026,
            Some("productidname"),
            None,
        )
        .lookup("pricelevelid", "pricelevels", "pricelevel")
        .lookup("productid", "products", "product")
        .lookup("uomid", "uoms", "uom")
        .lookup("uomscheduleid", "uomschedules", "uomschedule")
        .money("amount")
        .dec("percentage", 5)
        .pick(
            "pricingmethodcode",
            &[
                (1, "Currency Amount"),
                (2, "Percent of List"),
                (3, "Percent Markup - Current Cost"),
                (4, "Percent Margin - Current Cost"),
                (5, "Percent Markup - Standard Cost"),
                (6, "Percent Margin - Standard Cost"),
            ],
        )
        .pick(
            "quantitysellingcode",
            &[(1, "No Control"), (2, "Whole"), (3, "Whole and Fractional")],
        )
        .pick("roundingpolicycode", &[(1, "None"), (2, "Up"), (3, "Down"), (4, "To Nearest")])
        .pick("roundingoptioncode", &[(1, "Ends in"), (2, "Multiple of")])
        .money("roundingoptionamount")
        .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
        .s("productnumber", 100)
        .s_ro("productidname", 100)
        .create_only(&["_pricelevelid_value"])
        .alt_key(&["_pricelevelid_value", "_productid_value", "_uomid_value"])
        .done(),
        Table::new("account", "accounts", "Account", 1, Some("name"), UserOwned)
            .s("name", 160)
            .s("accountnumber", 20)
            .address1()
            .s("address1_county", 50)
            .s("address1_primarycontactname", 100)
            .pick("address1_freighttermscode", FREIGHT_TERMS)
            .pick("address1_shippingmethodcode", SHIPPING_METHOD)
            .strings(&["telephone1", "telephone2", "fax"], 50)
            .s("emailaddress1", 100)
            .s("websiteurl", 200)
            .money("creditlimit")
            .boolean("creditonhold")
            .pick("paymenttermscode", PAYMENT_TERMS)
            .pick(
                "customertypecode",
                &[
                    (1, "Competitor"),
                    (2, "Consultant"),
                    (3, "Customer"),
                    (4, "Investor"),
                    (5, "Partner"),
                    (6, "Influencer"),
                    (7, "Press"),
                    (8, "Prospect"),
                    (9, "Reseller"),
                    (10, "Supplier"),
                    (11, "Vendor"),
                    (12, "Other"),
                ],
            )
            .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
            .lookup("defaultpricelevelid", "pricelevels", "pricelevel")
            .lookup("primarycontactid", "contacts", "contact")
            .lookup("parentaccountid", "accounts", "account")
            .owner()
            .state(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS)
            .many("contact_customer_accounts", "contacts", "_parentcustomerid_value")
            .alt_key(&["accountnumber"])
            .done(),
        Table::new("contact", "contacts", "Contact", 2, Some("fullname"), UserOwned)
            .s_ro("fullname", 160)
            .s("firstname", 50)
            .s("middlename", 50)
            .s("lastname", 50)
            .s("jobtitle", 100)
            .s("employeeid", 50)
            .customer("parentcustomerid")
            .s("emailaddress1", 100)
            .strings(&["telephone1", "telephone2", "mobilephone", "fax", "pager"], 50)
            .s("websiteurl", 200)
            .address1()
            .pick("address1_freighttermscode", FREIGHT_TERMS)
            .pick("address1_shippingmethodcode", SHIPPING_METHOD)
            .pick("paymenttermscode", PAYMENT_TERMS)
            .pick("customertypecode", &[(1, "Default Value")])
            .money("creditlimit")
            .lookup("defaultpricelevelid", "pricelevels", "pricelevel")
            .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
            .owner()
            .state(ACTIVE_INACTIVE, ACTIVE_INACTIVE_STATUS)
            .alt_key(&["employeeid"])
            .done(),
        Table::new("salesorder", "salesorders", "SalesOrder", 1088, Some("name"), UserOwned)
            .s("name", 300)
            .s("ordernumber", 100)
            .customer("customerid")
            .lookup("pricelevelid", "pricelevels", "pricelevel")
            .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
            .guid("opportunityid")
            .guid("quoteid")
            .owner()
            .pick("paymenttermscode", PAYMENT_TERMS)
            .pick("freighttermscode", FREIGHT_TERMS)
            .pick("shippingmethodcode", SHIPPING_METHOD)
            .date("requestdeliveryby")
            .date("datefulfilled")
            .date("submitdate")
            .money("discountamount")
            .money("freightamount")
            .dec("discountpercentage", 5)
            .money("totallineitemamount")
            .money("totallineitemdiscountamount")
            .money("totaldiscountamount")
            .money("totalamountlessfreight")
            .money("totaltax")
            .money("totalamount")
            .boolean("ispricelocked")
            .boolean("willcall")
            .s("emailaddress", 100)
            .s("description", 2000)
            .billto_shipto()
            .state(SALESORDER_STATES, SALESORDER_STATUS)
            .s("kontor_financialsordernumber", 20)
            .solution(&["kontor_financialsordernumber"])
            .create_only(&["ordernumber", "_transactioncurrencyid_value"])
            .many("order_details", "salesorderdetails", "_salesorderid_value")
            .alt_key(&["ordernumber"])
            .done(),
        Table::new(
            "salesorderdetail",
            "salesorderdetails",
            "SalesOrderDetail",
            1089,
            Some("salesorderdetailname"),
            UserOwned,
        )
        .lookup("salesorderid", "salesorders", "salesorder")
        .lookup("productid", "products", "product")
        .boolean("isproductoverridden")
        .s("productdescription", 500)
        .lookup("uomid", "uoms", "uom")
        .dec("quantity", 5)
        .money("priceperunit")
        .boolean("ispriceoverridden")
        .money("baseamount")
        .money("extendedamount")
        .money("manualdiscountamount")
        .money("tax")
        .money_ro("volumediscountamount")
        .int("lineitemnumber")
        .int("sequencenumber")
        .date("requestdeliveryby")
        .dec("quantityshipped", 5)
        .dec("quantitybackordered", 5)
        .dec("quantitycancelled", 5)
        .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
        .pick(
            "producttypecode",
            &[
                (1, "Product"),
                (2, "Bundle"),
                (3, "Required Bundle Product"),
                (4, "Optional Bundle Product"),
                (5, "Project-based Service"),
            ],
        )
        .pick(
            "skippricecalculation",
            &[
                (0, "DoPriceCalcAlways"),
                (1, "SkipPriceCalcOnCreate"),
                (2, "SkipPriceCalcOnUpdate"),
                (3, "SkipPriceCalcOnUpSert"),
            ],
        )
        .s("salesorderdetailname", 500)
        .int("kontor_financialslinenumber")
        .solution(&["kontor_financialslinenumber"])
        .create_only(&["isproductoverridden", "producttypecode", "_transactioncurrencyid_value"])
        .alt_key(&["_salesorderid_value", "lineitemnumber"])
        .done(),
        Table::new("invoice", "invoices", "Invoice", 1090, Some("name"), UserOwned)
            .s("name", 300)
            .s("invoicenumber", 100)
            .customer("customerid")
            .lookup("salesorderid", "salesorders", "salesorder")
            .guid("opportunityid")
            .lookup("pricelevelid", "pricelevels", "pricelevel")
            .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
            .owner()
            .date("duedate")
            .date("datedelivered")
            .pick("paymenttermscode", PAYMENT_TERMS)
            .pick("shippingmethodcode", SHIPPING_METHOD)
            .money("discountamount")
            .dec("discountpercentage", 5)
            .money("freightamount")
            .money("totalamount")
            .money("totalamountlessfreight")
            .money("totaltax")
            .money("totallineitemamount")
            .money("totaldiscountamount")
            .boolean("ispricelocked")
            .boolean("willcall")
            .s("description", 2000)
            .billto_shipto()
            .state(INVOICE_STATES, INVOICE_STATUS)
            .create_only(&["invoicenumber", "_transactioncurrencyid_value"])
            .many("invoice_details", "invoicedetails", "_invoiceid_value")
            .alt_key(&["invoicenumber"])
            .done(),
        Table::new(
            "invoicedetail",
            "invoicedetails",
            "InvoiceDetail",
            1091,
            Some("invoicedetailname"),
            UserOwned,
        )
        .lookup("invoiceid", "invoices", "invoice")
        .s("invoicedetailname", 4000)
        .lookup("productid", "products", "product")
        .lookup("uomid", "uoms", "uom")
        .lookup("salesorderdetailid", "salesorderdetails", "salesorderdetail")
        .boolean("isproductoverridden")
        .s("productdescription", 500)
        .dec("quantity", 5)
        .money("priceperunit")
        .boolean("ispriceoverridden")
        .money("manualdiscountamount")
        .money("tax")
        .money("baseamount")
        .money("extendedamount")
        .date("actualdeliveryon")
        .s("shippingtrackingnumber", 100)
        .dec("quantityshipped", 5)
        .dec("quantitybackordered", 5)
        .dec("quantitycancelled", 5)
        .int("lineitemnumber")
        .lookup("transactioncurrencyid", "transactioncurrencies", "transactioncurrency")
        .create_only(&["isproductoverridden"])
        .alt_key(&["_invoiceid_value", "lineitemnumber"])
        .done(),
    ];
    let mut odata = Model {
        namespace: NAMESPACE.to_owned(),
        container: "System".to_owned(),
        entity_types: vec![],
    };
    let mut infos = vec![];
    for (e, t) in tables {
        odata.entity_types.push(e);
        infos.push(t);
    }
    SalesModel { odata, tables: infos }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_set_of_the_issue_is_in_the_model() {
        let sets = [
            "systemusers",
            "businessunits",
            "roles",
            "teams",
            "transactioncurrencies",
            "uomschedules",
            "uoms",
            "products",
            "pricelevels",
            "productpricelevels",
            "accounts",
            "contacts",
            "salesorders",
            "salesorderdetails",
            "invoices",
            "invoicedetails",
        ];
        for s in sets {
            assert!(model().entity_set(s).is_some(), "{s}");
        }
        assert_eq!(model().entity_types.len(), sets.len());
    }

    #[test]
    fn every_navigation_targets_a_known_set_and_every_lookup_has_its_property() {
        let m = sales_model();
        for (e, t) in m.iter() {
            for n in &e.navigations {
                assert!(m.set(&n.target_set).is_some(), "{}.{} → {}", e.name, n.name, n.target_set);
            }
            for l in &t.lookups {
                assert!(e.property(&l.property()).is_some());
            }
            for k in e.alternate_keys.iter().flatten() {
                assert!(e.property(k).is_some(), "{}: key {k}", e.name);
            }
            let mut names: Vec<_> = e.properties.iter().map(|p| &p.column).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), e.properties.len(), "{} has duplicate columns", e.name);
        }
    }

    #[test]
    fn every_state_model_names_only_labelled_codes() {
        for (e, t) in sales_model().iter() {
            if let Some(sm) = state_model(&e.name) {
                for (state, status) in &sm.pairs {
                    assert!(t.option_label("statecode", (*state).into()).is_some());
                    assert!(t.option_label("statuscode", (*status).into()).is_some());
                }
            }
        }
    }
}
