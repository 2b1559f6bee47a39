//! Metadata the Web API serves as data: `EntityDefinitions` (entities-reference B.10) and the
//! `sdkmessagefilters` clients probe for bulk-message support (B.11). Read-only, any caller.

use axum::http::{Method, StatusCode};
use kontor_odata::model::{EdmType, EntityType};
use kontor_sales::model::{TableInfo, sales_model};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::request::{Ctx, Reply, Request};
use kontor_sales::service::Key;
use kontor_sales::service::key::{parse_key, split_segment};

fn metadata_id(kind: &str, name: &str) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("kontor.metadata.{kind}.{name}").as_bytes())
        .to_string()
}

fn select(raw_query: &str) -> Vec<String> {
    let decoded = kontor_odata::query::percent_decode(raw_query).unwrap_or_default();
    decoded
        .split('&')
        .find_map(|p| p.strip_prefix("$select="))
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect())
        .unwrap_or_default()
}

fn keep(mut v: Map<String, Value>, select: &[String]) -> Value {
    if !select.is_empty() {
        v.retain(|k, _| k.starts_with('@') || k == "MetadataId" || select.contains(k));
    }
    Value::Object(v)
}

fn entity_definition(e: &EntityType, t: &TableInfo) -> Map<String, Value> {
    let schema = t.schema_name.clone();
    let v = json!({
        "MetadataId": metadata_id("entity", &e.name),
        "LogicalName": e.name,
        "SchemaName": schema,
        "EntitySetName": e.set_name,
        "PrimaryIdAttribute": e.key,
        "PrimaryNameAttribute": t.primary_name,
        "ObjectTypeCode": t.object_type_code,
        "OwnershipType": t.ownership.as_str(),
        "ChangeTrackingEnabled": true,
        "IsOptimisticConcurrencyEnabled": true,
        "DisplayName": {"UserLocalizedLabel": {"Label": schema, "LanguageCode": 1033}},
    });
    v.as_object().cloned().unwrap_or_default()
}

fn attribute_type(
    e: &EntityType,
    t: &TableInfo,
    name: &str,
    ty: EdmType,
) -> (&'static str, &'static str) {
    if let Some(l) = t.lookup_by_property(name) {
        return match l.type_property {
            Some(_) if l.attribute == "ownerid" => ("Owner", "LookupAttributeMetadata"),
            Some(_) => ("Customer", "LookupAttributeMetadata"),
            None => ("Lookup", "LookupAttributeMetadata"),
        };
    }
    if name == e.key {
        return ("Uniqueidentifier", "UniqueIdentifierAttributeMetadata");
    }
    match name {
        "statecode" => return ("State", "StateAttributeMetadata"),
        "statuscode" => return ("Status", "StatusAttributeMetadata"),
        _ => {}
    }
    if t.options.contains_key(name) {
        return ("Picklist", "PicklistAttributeMetadata");
    }
    match ty {
        EdmType::Guid => ("Uniqueidentifier", "UniqueIdentifierAttributeMetadata"),
        EdmType::String => ("String", "StringAttributeMetadata"),
        EdmType::Int32 => ("Integer", "IntegerAttributeMetadata"),
        EdmType::Int64 => ("BigInt", "BigIntAttributeMetadata"),
        EdmType::Decimal { scale: 5 }
            if !name.starts_with("quantity") && !name.contains("percentage") =>
        {
            ("Money", "MoneyAttributeMetadata")
        }
        EdmType::Decimal { .. } => ("Decimal", "DecimalAttributeMetadata"),
        EdmType::Double => ("Double", "DoubleAttributeMetadata"),
        EdmType::Boolean => ("Boolean", "BooleanAttributeMetadata"),
        EdmType::DateTimeOffset | EdmType::Date => ("DateTime", "DateTimeAttributeMetadata"),
    }
}

fn attributes(ctx: &Ctx<'_>, e: &EntityType, t: &TableInfo) -> Vec<Map<String, Value>> {
    let mut out = vec![];
    for p in &e.properties {
        if !ctx.installed && t.is_solution_property(&p.name) {
            continue;
        }
        // Lookups are described by their attribute's logical name, not `_x_value`.
        let logical = t
            .lookup_by_property(&p.name)
            .map(|l| l.attribute.clone())
            .unwrap_or_else(|| p.name.clone());
        let (kind, meta) = attribute_type(e, t, &p.name, p.ty);
        let ro = t.is_read_only(&p.name);
        let mut v = json!({
            "@odata.type": format!("#Microsoft.Dynamics.CRM.{meta}"),
            "MetadataId": metadata_id("attribute", &format!("{}.{logical}", e.name)),
            "LogicalName": logical,
            "SchemaName": logical,
            "AttributeType": kind,
            "AttributeTypeName": {"Value": format!("{kind}Type")},
            "IsPrimaryId": p.name == e.key,
            "IsPrimaryName": t.primary_name.as_deref() == Some(p.name.as_str()),
            "IsValidForCreate": !ro,
            "IsValidForUpdate": !ro && !t.is_create_only(&p.name) && p.name != e.key,
            "IsValidForRead": true,
            "RequiredLevel": {"Value": if p.name == e.key { "SystemRequired" } else { "None" }, "CanBeChanged": false, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        });
        if let Some(n) = p.max_length {
            v["MaxLength"] = json!(n);
        }
        if let Some(l) = t.lookup_by_property(&p.name) {
            v["Targets"] =
                json!(l.targets.iter().map(|(_, _, logical)| logical.clone()).collect::<Vec<_>>());
        }
        if let Some(opts) = t.options.get(&p.name) {
            v["OptionSet"] = json!({"Options": opts.iter().map(|(value, label)| json!({
                "Value": value,
                "Label": {"UserLocalizedLabel": {"Label": label, "LanguageCode": 1033}}
            })).collect::<Vec<_>>()});
        }
        if let Some(m) = v.as_object() {
            out.push(m.clone());
        }
    }
    out
}

/// `GET EntityDefinitions[(LogicalName='x')[/Attributes|/Keys|/ManyToOneRelationships]]`.
pub fn entity_definitions(ctx: &Ctx<'_>, req: &Request, segs: &[String]) -> ApiResult<Reply> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed(req.method.as_str(), "EntityDefinitions"));
    }
    let base = &ctx.base;
    let sel = select(&req.query);
    let (_, key) = split_segment(&segs[0]).ok_or_else(|| ApiError::segment(&segs[0]))?;
    let Some(key) = key else {
        let value: Vec<Value> =
            sales_model().iter().map(|(e, t)| keep(entity_definition(e, t), &sel)).collect();
        return Ok(json_reply(
            json!({"@odata.context": format!("{base}/$metadata#EntityDefinitions"), "value": value}),
        ));
    };
    let logical = match parse_key(key) {
        Some(Key::Alternate(pairs)) if pairs.len() == 1 && pairs[0].0 == "LogicalName" => {
            pairs[0].1.as_str().unwrap_or_default().to_owned()
        }
        Some(Key::Id(id)) => sales_model()
            .iter()
            .find(|(e, _)| metadata_id("entity", &e.name) == id.to_string())
            .map(|(e, _)| e.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let (e, t) = sales_model().by_logical_name(&logical).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            crate::error::code::OBJECT_DOES_NOT_EXIST,
            format!("Could not find entity with the name '{logical}'."),
        )
    })?;
    match segs.get(1).map(String::as_str) {
        None => {
            let mut v = entity_definition(e, t);
            v.insert(
                "@odata.context".into(),
                json!(format!("{base}/$metadata#EntityDefinitions/$entity")),
            );
            Ok(json_reply(keep(v, &sel)))
        }
        Some("Attributes") => {
            let value: Vec<Value> =
                attributes(ctx, e, t).into_iter().map(|a| keep(a, &sel)).collect();
            Ok(json_reply(
                json!({"@odata.context": format!("{base}/$metadata#EntityDefinitions('{logical}')/Attributes"), "value": value}),
            ))
        }
        Some(seg) if seg.starts_with("Attributes(") => {
            // `Attributes(LogicalName='x')[/Microsoft.Dynamics.CRM.<Type>AttributeMetadata]`:
            // one attribute, with its `OptionSet` when it has one.
            let (_, key) = split_segment(seg).ok_or_else(|| ApiError::segment(seg))?;
            let name = match key.and_then(parse_key) {
                Some(Key::Alternate(pairs)) if pairs.len() == 1 && pairs[0].0 == "LogicalName" => {
                    pairs[0].1.as_str().unwrap_or_default().to_owned()
                }
                _ => return Err(ApiError::segment(seg)),
            };
            let attr = attributes(ctx, e, t)
                .into_iter()
                .find(|a| a.get("LogicalName").and_then(Value::as_str) == Some(name.as_str()))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        crate::error::code::OBJECT_DOES_NOT_EXIST,
                        format!("Could not find attribute '{name}' on entity '{logical}'."),
                    )
                })?;
            if let Some(cast) = segs.get(2) {
                let wanted = cast.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(cast);
                let actual = attr.get("@odata.type").and_then(Value::as_str).unwrap_or_default();
                if actual.strip_prefix("#Microsoft.Dynamics.CRM.") != Some(wanted) {
                    return Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        crate::error::code::OBJECT_DOES_NOT_EXIST,
                        format!("Attribute '{name}' of entity '{logical}' is not a {wanted}."),
                    ));
                }
            }
            let mut v = attr;
            v.insert(
                "@odata.context".into(),
                json!(format!(
                    "{base}/$metadata#EntityDefinitions('{logical}')/Attributes/$entity"
                )),
            );
            let mut sel = sel.clone();
            if !sel.is_empty() {
                sel.push("OptionSet".into());
            }
            Ok(json_reply(keep(v, &sel)))
        }
        Some("Keys") => {
            let value: Vec<Value> = e
                .alternate_keys
                .iter()
                .map(|k| {
                    let attrs: Vec<String> = k
                        .iter()
                        .map(|p| t.lookup_by_property(p).map(|l| l.attribute.clone()).unwrap_or_else(|| p.clone()))
                        .collect();
                    let name = format!("kontor_{}_{}", e.name, attrs.join("_"));
                    keep(
                        json!({"MetadataId": metadata_id("key", &name), "LogicalName": name, "SchemaName": name,
                               "KeyAttributes": attrs, "EntityKeyIndexStatus": "Active"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                        &sel,
                    )
                })
                .collect();
            Ok(json_reply(
                json!({"@odata.context": format!("{base}/$metadata#EntityDefinitions('{logical}')/Keys"), "value": value}),
            ))
        }
        Some("ManyToOneRelationships") => {
            let mut value = vec![];
            for l in &t.lookups {
                for (nav, _, target) in &l.targets {
                    let schema = format!("{}_{}_{}", e.name, l.attribute, target);
                    let target_key = format!("{target}id");
                    value.push(keep(
                        json!({"@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
                               "MetadataId": metadata_id("relationship", &schema), "SchemaName": schema,
                               "ReferencedEntity": target, "ReferencedAttribute": target_key,
                               "ReferencingEntity": e.name, "ReferencingAttribute": l.attribute,
                               "ReferencingEntityNavigationPropertyName": nav,
                               "RelationshipType": "OneToManyRelationship", "IsHierarchical": false})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                        &sel,
                    ));
                }
            }
            Ok(json_reply(
                json!({"@odata.context": format!("{base}/$metadata#EntityDefinitions('{logical}')/ManyToOneRelationships"), "value": value}),
            ))
        }
        Some(other) => Err(ApiError::segment(other)),
    }
}

/// `GET sdkmessagefilters?…$filter=(sdkmessageid/name eq 'CreateMultiple' …) and primaryobjecttypecode eq 'x'`:
/// every table supports CreateMultiple, UpdateMultiple and UpsertMultiple.
pub fn sdk_message_filters(ctx: &Ctx<'_>, req: &Request) -> ApiResult<Reply> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed(req.method.as_str(), "sdkmessagefilters"));
    }
    let raw = kontor_odata::query::percent_decode(&req.query).unwrap_or_default();
    let quoted_after = |marker: &str| -> Vec<String> {
        raw.split(marker).skip(1).filter_map(|r| r.split('\'').next().map(str::to_owned)).collect()
    };
    let messages = ["CreateMultiple", "UpdateMultiple", "UpsertMultiple"];
    let wanted_messages: Vec<String> = quoted_after("name eq '");
    let wanted_tables: Vec<String> = quoted_after("primaryobjecttypecode eq '");
    let mut value = vec![];
    for (e, _) in sales_model().iter() {
        if !wanted_tables.is_empty() && !wanted_tables.contains(&e.name) {
            continue;
        }
        for m in messages {
            if !wanted_messages.is_empty() && !wanted_messages.iter().any(|w| w == m) {
                continue;
            }
            value.push(json!({
                "sdkmessagefilterid": metadata_id("sdkmessagefilter", &format!("{m}.{}", e.name)),
                "primaryobjecttypecode": e.name,
                "secondaryobjecttypecode": "none",
                "isvisible": true,
                "availability": 0,
                "_sdkmessageid_value": metadata_id("sdkmessage", m),
                "sdkmessageid": {"sdkmessageid": metadata_id("sdkmessage", m), "name": m},
            }));
        }
    }
    Ok(json_reply(
        json!({"@odata.context": format!("{}/$metadata#sdkmessagefilters", ctx.base), "value": value}),
    ))
}

fn json_reply(body: Value) -> Reply {
    Reply { status: StatusCode::OK, headers: vec![], body: Some(body), raw: None }
}
