//! A small CRM-shaped model (account, contact) for this crate's tests.

use crate::model::{EdmType, EntityType, Model, Navigation, NavigationKind, Property};

pub(crate) fn crm_model() -> Model {
    let account = EntityType {
        name: "account".into(),
        set_name: "accounts".into(),
        table: "crm_account".into(),
        key: "accountid".into(),
        properties: vec![
            Property::new("accountid", "accountid", EdmType::Guid).required().read_only(),
            Property::new("name", "name", EdmType::String).max_length(160),
            Property::new("accountnumber", "accountnumber", EdmType::String).max_length(20),
            Property::new("revenue", "revenue", EdmType::MONEY),
            Property::new("creditlimit", "creditlimit", EdmType::Decimal { scale: 2 }),
            Property::new("exchangerate", "exchangerate", EdmType::RATE),
            Property::new("numberofemployees", "numberofemployees", EdmType::Int32),
            Property::new("statecode", "statecode", EdmType::Int32).required(),
            Property::new("donotemail", "donotemail", EdmType::Boolean),
            Property::new("latitude", "address1_latitude", EdmType::Double),
            Property::new("openedon", "opened_on", EdmType::Date),
            Property::new("modifiedon", "modifiedon", EdmType::DateTimeOffset).read_only(),
            Property::new("_primarycontactid_value", "primarycontactid", EdmType::Guid),
            Property::new("_parentaccountid_value", "parentaccountid", EdmType::Guid),
        ],
        navigations: vec![
            Navigation {
                name: "primarycontactid".into(),
                target_set: "contacts".into(),
                kind: NavigationKind::ToOne { local_property: "_primarycontactid_value".into() },
            },
            Navigation {
                name: "parentaccountid".into(),
                target_set: "accounts".into(),
                kind: NavigationKind::ToOne { local_property: "_parentaccountid_value".into() },
            },
            Navigation {
                name: "contact_customer_accounts".into(),
                target_set: "contacts".into(),
                kind: NavigationKind::ToMany { remote_property: "_parentcustomerid_value".into() },
            },
        ],
        alternate_keys: vec![vec!["accountnumber".into()]],
        created_property: None,
        modified_property: Some("modifiedon".into()),
    };
    let contact = EntityType {
        name: "contact".into(),
        set_name: "contacts".into(),
        table: "crm_contact".into(),
        key: "contactid".into(),
        properties: vec![
            Property::new("contactid", "contactid", EdmType::Guid).required().read_only(),
            Property::new("fullname", "fullname", EdmType::String),
            Property::new("jobtitle", "jobtitle", EdmType::String),
            Property::new("birthdate", "birthdate", EdmType::Date),
            Property::new("_parentcustomerid_value", "parentcustomerid", EdmType::Guid),
        ],
        navigations: vec![Navigation {
            name: "parentcustomerid_account".into(),
            target_set: "accounts".into(),
            kind: NavigationKind::ToOne { local_property: "_parentcustomerid_value".into() },
        }],
        alternate_keys: vec![],
        created_property: None,
        modified_property: None,
    };
    Model {
        namespace: "Microsoft.Dynamics.CRM".into(),
        container: "System".into(),
        entity_types: vec![account, contact],
    }
}
