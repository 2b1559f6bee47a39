//! Fuzzes the `$filter` parser, its printer (parse → print → parse must give the same tree), the
//! query-option parser and the SQL lowering for both dialects.
#![no_main]

use kontor_odata::model::{EdmType, EntityType, Model, Navigation, NavigationKind, Property};
use kontor_odata::query::QueryOptions;
use kontor_odata::sql::{self, Dialect};
use libfuzzer_sys::fuzz_target;

fn model() -> Model {
    let account = EntityType {
        name: "account".into(),
        set_name: "accounts".into(),
        table: "crm_account".into(),
        key: "accountid".into(),
        properties: vec![
            Property::new("accountid", "accountid", EdmType::Guid).required(),
            Property::new("name", "name", EdmType::String),
            Property::new("revenue", "revenue", EdmType::MONEY),
            Property::new("creditlimit", "creditlimit", EdmType::Decimal { scale: 2 }),
            Property::new("statecode", "statecode", EdmType::Int32),
            Property::new("n", "n", EdmType::Int64),
            Property::new("donotemail", "donotemail", EdmType::Boolean),
            Property::new("latitude", "latitude", EdmType::Double),
            Property::new("openedon", "openedon", EdmType::Date),
            Property::new("modifiedon", "modifiedon", EdmType::DateTimeOffset),
            Property::new("_primarycontactid_value", "primarycontactid", EdmType::Guid),
        ],
        navigations: vec![
            Navigation {
                name: "primarycontactid".into(),
                target_set: "contacts".into(),
                kind: NavigationKind::ToOne { local_property: "_primarycontactid_value".into() },
            },
            Navigation {
                name: "contacts".into(),
                target_set: "contacts".into(),
                kind: NavigationKind::ToMany { remote_property: "_parentcustomerid_value".into() },
            },
        ],
        alternate_keys: vec![],
        created_property: None,
        modified_property: None,
    };
    let contact = EntityType {
        name: "contact".into(),
        set_name: "contacts".into(),
        table: "crm_contact".into(),
        key: "contactid".into(),
        properties: vec![
            Property::new("contactid", "contactid", EdmType::Guid).required(),
            Property::new("fullname", "fullname", EdmType::String),
            Property::new("jobtitle", "jobtitle", EdmType::String),
            Property::new("_parentcustomerid_value", "parentcustomerid", EdmType::Guid),
        ],
        navigations: vec![Navigation {
            name: "account".into(),
            target_set: "accounts".into(),
            kind: NavigationKind::ToOne { local_property: "_parentcustomerid_value".into() },
        }],
        alternate_keys: vec![],
        created_property: None,
        modified_property: None,
    };
    Model { namespace: "ns".into(), container: "c".into(), entity_types: vec![account, contact] }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let model = model();
    let account = &model.entity_types[0];
    if let Ok(expr) = kontor_odata::filter::parse(text) {
        let printed = expr.to_string();
        let again = kontor_odata::filter::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?} does not parse: {e}"));
        assert_eq!(again, expr, "{text:?} printed as {printed:?}");
        let options = QueryOptions { filter: Some(expr), ..QueryOptions::default() };
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            if let Ok(stmt) = sql::select(account, &model, &options, dialect) {
                let _ = sql::to_sql(&stmt, dialect);
            }
        }
    }
    if let Ok(options) = QueryOptions::parse(text, account, &model) {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            if let Ok(stmt) = sql::select(account, &model, &options, dialect) {
                let _ = sql::to_sql(&stmt, dialect);
            }
        }
    }
});

