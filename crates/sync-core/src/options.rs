//! Option mappings (Business Central's PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT): a
//! Financials table of codes on one side, the values of a Sales option set column on the other
//! (`accounts.paymenttermscode`: 1 = "Net 30", …). A coupling pairs a Financials record with an
//! option value ([`crate::ids::option_id`]), and field mappings of other tables look codes up
//! through these couplings (a customer's payment terms ↔ the account's `paymenttermscode`).
//!
//! - To Sales: each Financials record is coupled with the option whose label matches its
//!   match field (letters and digits compared, case ignored: `NET30` ↔ "Net 30"). Sales option
//!   sets are the Sales administrator's to extend; a code without a matching option fails with a
//!   message saying so. Couplings of deleted records are removed.
//! - To Financials: each option value not yet coupled is coupled with the Financials record
//!   whose code matches its label, or creates one (deterministic id) from the field mappings.
//!
//! An option is seen as the record `{"value": <n>, "label": "<label>"}`; field mappings name
//! `value` or `label` on the Sales side. The plan ([`plan`]) and the outcome of a pass
//! ([`outcome`]) are pure; kontor-sync's `options::run` reads, writes and records.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::filter;
use crate::ids::{option_id, option_value, target_id};
pub use crate::mapping::OPTION_FIELDS;
use crate::mapping::{Pass, TableMapping};
use crate::page::{PageOutcome, PageRecord, SynchError};
use crate::plan::{Base, Counters, Lookups};
use crate::types::{OptionValue, Record, Row, Side};

/// An option as a record.
pub fn option_record(o: &OptionValue) -> Record {
    let mut r = Record::new();
    r.insert("value".into(), json!(o.value));
    r.insert("label".into(), json!(o.label));
    r
}

/// Letters and digits, upper case: how codes and labels are compared.
fn normalized(v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let n: String =
        text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect();
    (!n.is_empty()).then_some(n)
}

/// One planned step of an option pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptionAction {
    /// Couple a Financials record with an option value.
    Couple { financials_id: Uuid, value: i64 },
    /// Create a Financials record for an option value (To Financials) and couple them.
    Insert { financials_id: Uuid, value: i64, fields: Record },
    /// Already coupled with an existing option.
    Unchanged { financials_id: Uuid, value: i64 },
    /// Remove a coupling whose Financials record is gone.
    Uncouple { financials_id: Uuid, sales_id: Uuid },
    /// The record (Financials id, or the option's coupling id) fails with a message.
    Fail { source_id: Uuid, message: String },
}

/// Everything an option pass looks at.
#[derive(Debug, Clone, Copy)]
pub struct OptionPlanInput<'a> {
    pub connection_id: Uuid,
    pub mapping: &'a TableMapping,
    pub pass: Pass,
    /// Every Financials record of the mapping's table.
    pub records: &'a [Row],
    /// The option set's values.
    pub options: &'a [OptionValue],
    /// The mapping's couplings (Financials id, option id).
    pub couplings: &'a [(Uuid, Uuid)],
}

fn display(m: &TableMapping, r: &Row) -> String {
    match r.fields.get(&m.financials.display_field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => r.id.to_string(),
    }
}

fn option_list(options: &[OptionValue]) -> String {
    if options.is_empty() {
        return "it has none".into();
    }
    options.iter().map(|o| format!("{} = {}", o.value, o.label)).collect::<Vec<_>>().join(", ")
}

/// Plans one pass of an option mapping.
pub fn plan(input: OptionPlanInput<'_>) -> Vec<OptionAction> {
    let m = input.mapping;
    let column = format!("{}.{}", m.sales.set, m.sales.key);
    let filter = m.financials.filter.as_ref();
    let records: Vec<&Row> =
        input.records.iter().filter(|r| filter::matches(filter, &r.fields)).collect();
    let by_fin: HashMap<Uuid, Uuid> = input.couplings.iter().copied().collect();
    let coupled_values: HashSet<i64> =
        input.couplings.iter().filter_map(|(_, s)| option_value(*s)).collect();
    let values: HashSet<i64> = input.options.iter().map(|o| o.value).collect();
    let match_fields: Vec<(&str, &str)> = m
        .fields
        .iter()
        .filter(|f| f.enabled && f.match_field)
        .filter_map(|f| Some((f.financials.as_deref()?, f.sales.as_deref()?)))
        .collect();
    let fin_key = |r: &Record| -> Option<String> {
        let parts: Option<Vec<String>> =
            match_fields.iter().map(|(f, _)| normalized(r.get(*f)?)).collect();
        parts.map(|p| p.join("\u{1f}"))
    };
    let option_key = |o: &OptionValue| -> Option<String> {
        let rec = option_record(o);
        let parts: Option<Vec<String>> =
            match_fields.iter().map(|(_, s)| normalized(rec.get(*s)?)).collect();
        parts.map(|p| p.join("\u{1f}"))
    };
    let mut out = Vec::new();
    let present: HashSet<Uuid> = input.records.iter().map(|r| r.id).collect();
    for (f, s) in input.couplings {
        if !present.contains(f) {
            out.push(OptionAction::Uncouple { financials_id: *f, sales_id: *s });
        }
    }
    match input.pass {
        Pass::ToSales => {
            // Options still free to couple, by match key (ambiguous keys match nothing).
            let mut free: HashMap<String, Option<i64>> = HashMap::new();
            for o in input.options.iter().filter(|o| !coupled_values.contains(&o.value)) {
                if let Some(k) = option_key(o) {
                    free.entry(k).and_modify(|v| *v = None).or_insert(Some(o.value));
                }
            }
            for r in records {
                if let Some(s) = by_fin.get(&r.id) {
                    out.push(match option_value(*s) {
                        Some(v) if values.contains(&v) => {
                            OptionAction::Unchanged { financials_id: r.id, value: v }
                        }
                        _ => OptionAction::Fail {
                            source_id: r.id,
                            message: format!(
                                "The {} '{}' is coupled to a value that the Sales option set {column} no longer has ({}). Remove the coupling and synchronize again.",
                                m.financials.caption,
                                display(m, r),
                                option_list(input.options),
                            ),
                        },
                    });
                    continue;
                }
                let found = fin_key(&r.fields).and_then(|k| free.remove(&k)).flatten();
                out.push(match found {
                    Some(value) => OptionAction::Couple { financials_id: r.id, value },
                    None => OptionAction::Fail {
                        source_id: r.id,
                        message: format!(
                            "The Sales option set {column} has no free value matching {} '{}' (values: {}). Add the option in Sales or couple the {} by hand.",
                            m.financials.caption.to_lowercase(),
                            display(m, r),
                            option_list(input.options),
                            m.plural,
                        ),
                    },
                });
            }
        }
        Pass::ToFinancials => {
            let coupled_fin: HashSet<Uuid> = by_fin.keys().copied().collect();
            let mut free: HashMap<String, Option<Uuid>> = HashMap::new();
            for r in records.iter().filter(|r| !coupled_fin.contains(&r.id)) {
                if let Some(k) = fin_key(&r.fields) {
                    free.entry(k).and_modify(|v| *v = None).or_insert(Some(r.id));
                }
            }
            let by_value: HashMap<i64, Uuid> =
                input.couplings.iter().filter_map(|(f, s)| Some((option_value(*s)?, *f))).collect();
            for o in input.options {
                if let Some(f) = by_value.get(&o.value).filter(|f| present.contains(f)) {
                    out.push(OptionAction::Unchanged { financials_id: *f, value: o.value });
                    continue;
                }
                if let Some(f) = option_key(o).and_then(|k| free.remove(&k)).flatten() {
                    out.push(OptionAction::Couple { financials_id: f, value: o.value });
                    continue;
                }
                let source = option_record(o);
                let mut fields = Record::new();
                let mut errors = Vec::new();
                for fm in m.fields.iter().filter(|f| f.applies_to(Pass::ToFinancials)) {
                    let Some(dst) = fm.financials.as_deref() else { continue };
                    match crate::plan::desired(fm, &source, Pass::ToFinancials, &Lookups::default())
                    {
                        Ok(v) => {
                            fields.insert(dst.to_owned(), v);
                        }
                        Err(e) => errors.push(e),
                    }
                }
                out.push(if errors.is_empty() {
                    OptionAction::Insert {
                        financials_id: target_id(input.connection_id, &m.name, option_id(o.value)),
                        value: o.value,
                        fields,
                    }
                } else {
                    OptionAction::Fail { source_id: option_id(o.value), message: errors.join(" ") }
                });
            }
        }
    }
    out
}

/// The base kept with an option coupling: the match fields on both sides.
fn base(m: &TableMapping, fin: &Record, option: Option<&OptionValue>) -> Base {
    let mut b = Base::default();
    let rec = option.map(option_record).unwrap_or_default();
    for f in m.fields.iter().filter(|f| f.enabled) {
        if let Some(n) = &f.financials {
            b.financials.insert(n.clone(), fin.get(n).cloned().unwrap_or(Value::Null));
        }
        if let Some(n) = &f.sales {
            b.sales.insert(n.clone(), rec.get(n).cloned().unwrap_or(Value::Null));
        }
    }
    b
}

/// The outcome of an option pass once its Financials creations are written: couplings set
/// (with the match fields as their base) and removed, failures (a creation Financials refused
/// fails with its message), counters and errors.
pub fn outcome(
    mapping: &TableMapping,
    pass: Pass,
    actions: &[OptionAction],
    records: &[Row],
    options: &[OptionValue],
    write_failures: &HashMap<Uuid, String>,
    now: DateTime<Utc>,
) -> PageOutcome {
    let by_id: HashMap<Uuid, &Row> = records.iter().map(|r| (r.id, r)).collect();
    let by_value: HashMap<i64, &OptionValue> = options.iter().map(|o| (o.value, o)).collect();
    let source = |fin: Uuid, value: i64| match pass {
        Pass::ToSales => fin,
        Pass::ToFinancials => option_id(value),
    };
    let resource = |side: Side, id: Uuid| match side {
        Side::Financials => format!("{}({id})", mapping.financials.set),
        Side::Sales => match option_value(id) {
            Some(v) => format!("{}.{}={v}", mapping.sales.set, mapping.sales.key),
            None => format!("{}.{}", mapping.sales.set, mapping.sales.key),
        },
    };
    let mut record = PageRecord::default();
    let mut counters = Counters::default();
    let mut errors = Vec::new();
    let mut fail = |record: &mut PageRecord, src: Uuid, dst: String, message: String| {
        counters.failed += 1;
        record.failed.push((src, message.clone()));
        errors.push(SynchError {
            source: resource(pass.source(), src),
            destination: dst,
            message,
            at: now,
        });
    };
    let mut ok = Counters::default();
    for a in actions {
        match a {
            OptionAction::Couple { financials_id, value }
            | OptionAction::Unchanged { financials_id, value } => {
                let fin = by_id.get(financials_id).map(|r| r.fields.clone()).unwrap_or_default();
                let b = base(mapping, &fin, by_value.get(value).copied());
                record.set.push((*financials_id, option_id(*value), b));
                record.succeeded.push(source(*financials_id, *value));
                if matches!(a, OptionAction::Couple { .. }) {
                    ok.coupled += 1;
                } else {
                    ok.unchanged += 1;
                }
            }
            OptionAction::Insert { financials_id, value, fields } => {
                if let Some(message) = write_failures.get(financials_id) {
                    let dst = resource(Side::Financials, *financials_id);
                    fail(&mut record, option_id(*value), dst, message.clone());
                    continue;
                }
                let b = base(mapping, fields, by_value.get(value).copied());
                record.set.push((*financials_id, option_id(*value), b));
                record.succeeded.push(option_id(*value));
                ok.inserted += 1;
            }
            OptionAction::Uncouple { financials_id, sales_id } => {
                record.remove.push((*financials_id, *sales_id));
                ok.uncoupled += 1;
            }
            OptionAction::Fail { source_id, message } => {
                fail(&mut record, *source_id, String::new(), message.clone());
            }
        }
    }
    counters.add(&ok);
    PageOutcome { record, counters, errors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::default_mappings;
    use insta::assert_yaml_snapshot;

    const CONN: Uuid = Uuid::from_u128(0xc0);

    fn terms(n: u128, code: &str) -> Row {
        Row::new(
            Uuid::from_u128(n),
            json!({"code": code, "displayName": code}).as_object().unwrap().clone(),
        )
    }

    fn payment_terms_options() -> Vec<OptionValue> {
        [(1, "Net 30"), (2, "2% 10, Net 30"), (3, "Net 45"), (4, "Net 60")]
            .iter()
            .map(|(v, l)| OptionValue { value: *v, label: (*l).to_owned() })
            .collect()
    }

    fn run_plan(
        mapping: &TableMapping,
        pass: Pass,
        records: &[Row],
        couplings: &[(Uuid, Uuid)],
    ) -> Vec<OptionAction> {
        plan(OptionPlanInput {
            connection_id: CONN,
            mapping,
            pass,
            records,
            options: &payment_terms_options(),
            couplings,
        })
    }

    #[test]
    fn payment_terms_couple_with_the_option_whose_label_matches_their_code() {
        let set = default_mappings();
        let m = set.get("PAYMENT TERMS").unwrap();
        let records =
            vec![terms(1, "NET30"), terms(2, "2%10NET30"), terms(3, "NET60"), terms(4, "COD")];
        let actions = run_plan(m, Pass::ToSales, &records, &[(Uuid::from_u128(3), option_id(4))]);
        assert_yaml_snapshot!(actions);
    }

    #[test]
    fn a_coupling_to_a_value_the_option_set_lost_fails_naming_the_values_left() {
        let set = default_mappings();
        let m = set.get("PAYMENT TERMS").unwrap();
        let actions =
            run_plan(m, Pass::ToSales, &[terms(1, "NET90")], &[(Uuid::from_u128(1), option_id(9))]);
        let [OptionAction::Fail { message, .. }] = actions.as_slice() else {
            panic!("expected one failure, got {actions:?}")
        };
        assert_eq!(
            message,
            "The Payment terms 'NET90' is coupled to a value that the Sales option set accounts.paymenttermscode no longer has (1 = Net 30, 2 = 2% 10, Net 30, 3 = Net 45, 4 = Net 60). Remove the coupling and synchronize again."
        );
    }

    #[test]
    fn couplings_of_deleted_records_are_removed() {
        let set = default_mappings();
        let m = set.get("PAYMENT TERMS").unwrap();
        let gone = Uuid::from_u128(9);
        let actions = run_plan(m, Pass::ToSales, &[], &[(gone, option_id(1))]);
        assert_eq!(
            actions,
            vec![OptionAction::Uncouple { financials_id: gone, sales_id: option_id(1) }]
        );
    }

    #[test]
    fn from_sales_each_option_couples_with_its_code_or_creates_one() {
        let set = default_mappings();
        let mut m = set.get("PAYMENT TERMS").unwrap().clone();
        m.direction = crate::mapping::Direction::FromIntegrationTable;
        for f in &mut m.fields {
            f.direction = crate::mapping::Direction::FromIntegrationTable;
        }
        let records = vec![terms(1, "NET30"), terms(2, "NET45")];
        let actions =
            run_plan(&m, Pass::ToFinancials, &records, &[(Uuid::from_u128(2), option_id(3))]);
        assert_yaml_snapshot!(actions);
    }
}
