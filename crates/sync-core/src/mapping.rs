//! Integration table mappings and field mappings: what is synchronized, in which direction, with
//! which filters, constants, transformations, lookups and conflict policies. A [`MappingSet`]
//! exports to and imports from one JSON file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::direction::{Direction, Pass};
use crate::error::CoreError;
use crate::filter::Filter;
use crate::types::{Bind, Side, TableRef};
pub use crate::value::Transformation;

/// The Sales-side fields of an option (option mappings see an option as the record
/// `{"value": <n>, "label": "<label>"}`).
pub const OPTION_FIELDS: &[&str] = &["value", "label"];

/// What happens when both sides changed the same bidirectional field since the last sync
/// (Business Central's "Resolve Update Conflicts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UpdateConflictPolicy {
    /// The record fails with a message naming the fields.
    #[default]
    Fail,
    /// Financials' value wins ("Send Update to Integration Table").
    FinancialsWins,
    /// Sales' value wins ("Get Update from Integration Table").
    SalesWins,
}

/// What happens when a coupled record is deleted on one side
/// (Business Central's "Resolve Deletion Conflicts", plus propagation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DeletionPolicy {
    /// The record fails: "coupled to a deleted record".
    #[default]
    Fail,
    /// Recreate the deleted record from its coupled one (same key, so the coupling holds).
    Restore,
    /// Forget the coupling; both records live on independently.
    RemoveCoupling,
    /// Delete the coupled record too.
    Propagate,
}

/// One side of a table mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSide {
    /// Entity set (`customers`, `accounts`).
    pub set: String,
    /// Key property (`id`, `accountid`).
    pub key: String,
    /// Singular name in messages ("Customer", "Sales account").
    pub caption: String,
    /// Field naming a record in messages (`number`, `name`).
    pub display_field: String,
    /// OData `$filter` rows must match to be synchronized from this side (evaluated by the
    /// engine on each row, since change-tracked reads take no `$filter`). Parsed when the
    /// mapping is read: a mapping never holds a filter that does not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
}

impl TableSide {
    pub fn table_ref(&self) -> TableRef {
        TableRef::new(self.set.clone(), self.key.clone())
    }
}

/// What to do when a Sales reference has no coupled Financials record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum WhenUncoupled {
    /// Fail the record with a message saying what to couple first.
    #[default]
    Fail,
    /// Leave the Financials field blank (e.g. the Sales base currency = local currency).
    Blank,
}

/// A reference to another mapped table, translated through that mapping's couplings:
/// a Financials code or id ↔ a Sales lookup GUID, or, through an option mapping, a Financials
/// code or id ↔ a Sales option value (then `navigation` is empty: the value is written as is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The mapping whose couplings translate the reference (`SALESPEOPLE`).
    pub mapping: String,
    /// The Financials field of the referenced table the value matches (`code`, `number`, `id`).
    pub financials_key: String,
    /// Navigation property to bind on Sales writes (`ownerid`, `parentcustomerid_account`);
    /// empty for a lookup through an option mapping.
    pub navigation: String,
    /// Entity set the Sales reference points to (`systemusers`).
    pub target_set: String,
    #[serde(default)]
    pub when_uncoupled: WhenUncoupled,
}

/// A condition on the Financials record a field mapping applies to (a sales line's product is
/// an item or a resource depending on its type): the field mapping is used only for records
/// whose `financials` field equals one of `equals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldCondition {
    pub financials: String,
    pub equals: Vec<Value>,
}

impl FieldCondition {
    /// Whether a Financials record meets the condition.
    pub fn holds(&self, record: &serde_json::Map<String, Value>) -> bool {
        let v = record.get(&self.financials).unwrap_or(&Value::Null);
        self.equals.iter().any(|e| crate::value::same(e, v))
    }
}

/// One field mapping. Either side may be absent, then `constant` is written to the other side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financials: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales: Option<String>,
    pub direction: Direction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<Transformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Lookup>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Written only when the destination record is created (create-only columns, generated codes).
    #[serde(default, skip_serializing_if = "is_false")]
    pub insert_only: bool,
    /// Used by match-based coupling.
    #[serde(default, skip_serializing_if = "is_false")]
    pub match_field: bool,
    /// Used only for Financials records meeting this condition (one-way to Sales only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<FieldCondition>,
}

fn yes() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}

impl FieldMapping {
    /// `financials <-> sales` in `direction`.
    pub fn new(financials: &str, sales: &str, direction: Direction) -> FieldMapping {
        FieldMapping {
            financials: Some(financials.to_owned()),
            sales: Some(sales.to_owned()),
            direction,
            constant: None,
            transformation: None,
            lookup: None,
            enabled: true,
            insert_only: false,
            match_field: false,
            when: None,
        }
    }
    /// A constant written to `side`'s `field`.
    pub fn constant(side: Side, field: &str, value: Value) -> FieldMapping {
        let (financials, sales, direction) = match side {
            Side::Sales => (None, Some(field.to_owned()), Direction::ToIntegrationTable),
            Side::Financials => (Some(field.to_owned()), None, Direction::FromIntegrationTable),
        };
        FieldMapping {
            financials,
            sales,
            direction,
            constant: Some(value),
            transformation: None,
            lookup: None,
            enabled: true,
            insert_only: false,
            match_field: false,
            when: None,
        }
    }
    pub fn transform(mut self, t: Transformation) -> Self {
        self.transformation = Some(t);
        self
    }
    pub fn lookup(
        mut self,
        mapping: &str,
        financials_key: &str,
        navigation: &str,
        target_set: &str,
    ) -> Self {
        self.lookup = Some(Lookup {
            mapping: mapping.to_owned(),
            financials_key: financials_key.to_owned(),
            navigation: navigation.to_owned(),
            target_set: target_set.to_owned(),
            when_uncoupled: WhenUncoupled::Fail,
        });
        self
    }
    /// A lookup through an option mapping's couplings: the Sales value is an option value.
    pub fn option_lookup(mut self, mapping: &str, financials_key: &str) -> Self {
        self.lookup = Some(Lookup {
            mapping: mapping.to_owned(),
            financials_key: financials_key.to_owned(),
            navigation: String::new(),
            target_set: String::new(),
            when_uncoupled: WhenUncoupled::Fail,
        });
        self
    }
    /// Used only for Financials records whose `field` is one of `values`.
    pub fn when(mut self, field: &str, values: &[Value]) -> Self {
        self.when = Some(FieldCondition { financials: field.to_owned(), equals: values.to_vec() });
        self
    }
    /// Whether this field mapping is used for a record (`financials` = the Financials record,
    /// when the pass has it).
    pub fn used_for(&self, financials: Option<&serde_json::Map<String, Value>>) -> bool {
        match (&self.when, financials) {
            (None, _) => true,
            (Some(c), Some(r)) => c.holds(r),
            (Some(_), None) => false,
        }
    }
    pub fn blank_when_uncoupled(mut self) -> Self {
        if let Some(l) = &mut self.lookup {
            l.when_uncoupled = WhenUncoupled::Blank;
        }
        self
    }
    pub fn insert_only(mut self) -> Self {
        self.insert_only = true;
        self
    }
    pub fn match_field(mut self) -> Self {
        self.match_field = true;
        self
    }
    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }
    /// The field on `side`, if any.
    pub fn field(&self, side: Side) -> Option<&str> {
        match side {
            Side::Financials => self.financials.as_deref(),
            Side::Sales => self.sales.as_deref(),
        }
    }
    /// Whether this field is written by `pass`.
    pub fn applies_to(&self, pass: Pass) -> bool {
        self.enabled && self.direction.allows(pass) && self.field(pass.destination()).is_some()
    }
    /// Readable name `displayName ↔ name`.
    pub fn label(&self) -> String {
        let f = self.financials.as_deref().unwrap_or("(constant)");
        let s = self.sales.as_deref().unwrap_or("(constant)");
        format!("{f} ↔ {s}")
    }
}

/// How the full synchronization review recommends a first sync of this mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RecommendationRule {
    /// Both empty → No Records Found, both non-empty → Couple Records, else Full Synchronization.
    #[default]
    Default,
    /// Always Full Synchronization (SALESPEOPLE).
    AlwaysFull,
    /// Full only if Sales has exactly one currency (the base currency), else Couple.
    Currency,
    /// Sales counts as empty with at most one unit group (the default one).
    UnitGroup,
    /// Option mappings: Financials empty → No Records Found, else Couple Records.
    OptionMapping,
}

/// What a mapping synchronizes: records of two tables, or Financials records with the values
/// of a Sales option set (Business Central's option mappings: payment terms ↔ the account's
/// `paymenttermscode` options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MappingKind {
    #[default]
    Table,
    /// The Sales side is an option set: `sales.set` is the entity set and `sales.key` the
    /// option set column; couplings pair a Financials record with an option value.
    OptionSet,
}

/// One integration table mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMapping {
    /// Unique name (`CUSTOMER`).
    pub name: String,
    pub financials: TableSide,
    pub sales: TableSide,
    /// Plural in messages ("customers").
    pub plural: String,
    pub direction: Direction,
    /// Only coupled records are synchronized (new ones are not created) except in a full sync.
    pub synch_only_coupled: bool,
    /// Mappings to synchronize first, `|`-separated (`SALESPEOPLE|CURRENCY`).
    #[serde(default)]
    pub dependency_filter: String,
    #[serde(default)]
    pub update_conflict: UpdateConflictPolicy,
    #[serde(default)]
    pub deletion_conflict: DeletionPolicy,
    /// Create a record when match-based coupling finds no match.
    #[serde(default)]
    pub create_if_no_match: bool,
    #[serde(default)]
    pub recommendation: RecommendationRule,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "is_table")]
    pub kind: MappingKind,
    pub fields: Vec<FieldMapping>,
}

fn is_table(k: &MappingKind) -> bool {
    *k == MappingKind::Table
}

impl TableMapping {
    /// Reads a mapping from its JSON form (an element of an export file, a request body): the
    /// table filters are parsed here, and one that does not parse is refused naming the mapping,
    /// the side and the position.
    pub fn from_value(mut value: Value) -> Result<TableMapping, CoreError> {
        let name = value.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let invalid =
            |message: String| CoreError::InvalidMapping { mapping: name.clone(), message };
        let mut filters = [None, None];
        for (i, side) in [Side::Financials, Side::Sales].into_iter().enumerate() {
            let key = side.as_str();
            let Some(text) =
                value.get_mut(key).and_then(Value::as_object_mut).and_then(|t| t.remove("filter"))
            else {
                continue;
            };
            filters[i] = match text {
                Value::Null => None,
                Value::String(text) => Some(
                    Filter::parse(&text)
                        .map_err(|e| invalid(format!("the {side} table filter is invalid: {e}")))?,
                ),
                other => {
                    return Err(invalid(format!(
                        "the {side} table filter is not text but {other}"
                    )));
                }
            };
        }
        let mut m: TableMapping = serde_json::from_value(value)
            .map_err(|e| invalid(format!("the mapping cannot be read: {e}")))?;
        let [financials, sales] = filters;
        m.financials.filter = financials;
        m.sales.filter = sales;
        Ok(m)
    }

    pub fn side(&self, side: Side) -> &TableSide {
        match side {
            Side::Financials => &self.financials,
            Side::Sales => &self.sales,
        }
    }
    pub fn side_mut(&mut self, side: Side) -> &mut TableSide {
        match side {
            Side::Financials => &mut self.financials,
            Side::Sales => &mut self.sales,
        }
    }
    /// The fields of `side`'s rows the engine reads: the key, every field a field mapping names
    /// on that side (whatever its direction, so that restores and conflict checks see them),
    /// the fields of field conditions and of the table filter, the display field and the last
    /// modifier (echo suppression). Reading only these (`$select`) keeps pages small.
    pub fn read_fields(&self, side: Side) -> Vec<String> {
        let t = self.side(side);
        let mut out: Vec<String> = vec![t.key.clone(), t.display_field.clone()];
        out.push(crate::types::modified_by_field(side).to_owned());
        for f in &self.fields {
            out.extend(f.field(side).map(str::to_owned));
            if side == Side::Financials
                && let Some(c) = &f.when
            {
                out.push(c.financials.clone());
            }
        }
        if let Some(filter) = &t.filter {
            out.extend(filter.fields());
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|f| !f.is_empty() && seen.insert(f.clone()));
        out
    }

    /// Names of the mappings this one depends on.
    pub fn dependencies(&self) -> Vec<&str> {
        self.dependency_filter.split('|').map(str::trim).filter(|s| !s.is_empty()).collect()
    }
    /// Sales lookup binds for writes to Sales.
    pub fn sales_binds(&self) -> Vec<Bind> {
        self.fields
            .iter()
            .filter(|f| f.enabled)
            .filter_map(|f| {
                let l = f.lookup.as_ref().filter(|l| !l.navigation.is_empty())?;
                Some(Bind {
                    field: f.sales.clone()?,
                    navigation: l.navigation.clone(),
                    target_set: l.target_set.clone(),
                })
            })
            .collect()
    }
    /// Whether the Sales side is an option set.
    pub fn is_option_set(&self) -> bool {
        self.kind == MappingKind::OptionSet
    }
    /// Checks the mapping is coherent; `names` are all mapping names of the set and
    /// `option_sets` those of its option mappings.
    pub fn validate(&self, names: &[&str], option_sets: &[&str]) -> Result<(), CoreError> {
        let bad =
            |m: String| Err(CoreError::InvalidMapping { mapping: self.name.clone(), message: m });
        if self.name.trim().is_empty() {
            return bad("the mapping has no name".into());
        }
        for f in &self.fields {
            if f.financials.is_none() && f.sales.is_none() {
                return bad("a field mapping names no field".into());
            }
            if (f.financials.is_none() || f.sales.is_none()) && f.constant.is_none() {
                return bad(format!(
                    "field mapping {} has one side only and no constant value",
                    f.label()
                ));
            }
            if self.direction != Direction::Bidirectional
                && f.enabled
                && f.direction != self.direction
            {
                return bad(format!(
                    "field mapping {} is {} but the table mapping is {}",
                    f.label(),
                    f.direction.as_str(),
                    self.direction.as_str()
                ));
            }
            if let Some(l) = &f.lookup {
                if !names.contains(&l.mapping.as_str()) {
                    return bad(format!(
                        "field mapping {} looks up through unknown mapping {}",
                        f.label(),
                        l.mapping
                    ));
                }
                let through_options = option_sets.contains(&l.mapping.as_str());
                if through_options && !l.navigation.is_empty() {
                    return bad(format!(
                        "field mapping {} looks up through option mapping {}, which has no navigation to bind: leave navigation empty",
                        f.label(),
                        l.mapping
                    ));
                }
                if !through_options && l.navigation.is_empty() {
                    return bad(format!(
                        "field mapping {} looks up through {} but names no navigation property to bind",
                        f.label(),
                        l.mapping
                    ));
                }
            }
            if let Some(c) = &f.when
                && f.enabled
            {
                if c.financials.trim().is_empty() || c.equals.is_empty() {
                    return bad(format!(
                        "field mapping {} has a condition without a field or values",
                        f.label()
                    ));
                }
                if f.direction != Direction::ToIntegrationTable {
                    return bad(format!(
                        "field mapping {} has a condition on the Financials record, so it can only be ToIntegrationTable",
                        f.label()
                    ));
                }
            }
        }
        if self.is_option_set() {
            if self.fields.iter().any(|f| f.lookup.is_some()) {
                return bad("an option mapping cannot look up other mappings".into());
            }
            if let Some(f) = self
                .fields
                .iter()
                .find(|f| f.sales.as_deref().is_some_and(|s| !OPTION_FIELDS.contains(&s)))
            {
                return bad(format!(
                    "field mapping {} names an option field other than value or label",
                    f.label()
                ));
            }
            if !self.fields.iter().any(|f| f.enabled && f.match_field && f.sales.is_some()) {
                return bad("an option mapping needs an enabled match field (the code matched with the option label)".into());
            }
        }
        for pass in self.direction.passes() {
            if !self.fields.iter().any(|f| f.applies_to(pass)) {
                return bad(format!("no enabled field mapping goes {}", pass.as_str()));
            }
        }
        Ok(())
    }
}

/// The whole configuration, as exported to and imported from a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingSet {
    /// File format version.
    pub version: u32,
    pub mappings: Vec<TableMapping>,
}

impl MappingSet {
    pub const VERSION: u32 = 1;

    pub fn new(mappings: Vec<TableMapping>) -> MappingSet {
        MappingSet { version: Self::VERSION, mappings }
    }
    pub fn get(&self, name: &str) -> Option<&TableMapping> {
        self.mappings.iter().find(|m| m.name == name)
    }
    pub fn validate(&self) -> Result<(), CoreError> {
        let names: Vec<&str> = self.mappings.iter().map(|m| m.name.as_str()).collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(CoreError::InvalidMapping {
                    mapping: (*n).to_owned(),
                    message: "two mappings have this name".into(),
                });
            }
        }
        let option_sets: Vec<&str> =
            self.mappings.iter().filter(|m| m.is_option_set()).map(|m| m.name.as_str()).collect();
        for m in &self.mappings {
            m.validate(&names, &option_sets)?;
        }
        Ok(())
    }
    /// Pretty JSON for the export file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("mapping set serializes")
    }
    /// Parses and validates an export file; a filter that does not parse is refused naming its
    /// mapping, side and position.
    pub fn from_json(text: &str) -> Result<MappingSet, CoreError> {
        #[derive(Deserialize)]
        struct File {
            version: u32,
            mappings: Vec<Value>,
        }
        let not_an_export = |e: serde_json::Error| CoreError::InvalidMapping {
            mapping: String::new(),
            message: format!("the file is not a mapping export: {e}"),
        };
        let file: File = serde_json::from_str(text).map_err(not_an_export)?;
        if file.version != Self::VERSION {
            return Err(CoreError::InvalidMapping {
                mapping: String::new(),
                message: format!(
                    "export version {} is not supported (expected {})",
                    file.version,
                    Self::VERSION
                ),
            });
        }
        let mappings =
            file.mappings.into_iter().map(TableMapping::from_value).collect::<Result<_, _>>()?;
        let set = MappingSet { version: file.version, mappings };
        set.validate()?;
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::default_mappings;

    #[test]
    fn the_default_set_is_valid_and_round_trips_through_its_export_file() {
        let set = default_mappings();
        set.validate().unwrap();
        let text = set.to_json();
        assert_eq!(MappingSet::from_json(&text).unwrap(), set);
    }

    #[test]
    fn the_default_set_export_is_stable() {
        insta::assert_snapshot!(default_mappings().to_json());
    }

    #[test]
    fn an_import_with_a_one_way_field_against_the_table_direction_names_it() {
        let mut set = default_mappings();
        let cur = set.mappings.iter_mut().find(|m| m.name == "CURRENCY").unwrap();
        cur.fields[1].direction = Direction::FromIntegrationTable;
        let err = MappingSet::from_json(&set.to_json()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mapping CURRENCY: field mapping symbol ↔ currencysymbol is FromIntegrationTable but the table mapping is ToIntegrationTable"
        );
    }

    #[test]
    fn an_import_with_a_bad_filter_names_the_position() {
        let mut file = serde_json::to_value(default_mappings()).unwrap();
        let customer = file["mappings"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|m| m["name"] == "CUSTOMER")
            .unwrap();
        customer["sales"]["filter"] = "statecode eq".into();
        let err = MappingSet::from_json(&file.to_string()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mapping CUSTOMER: the Sales table filter is invalid: invalid filter at position 12: expected a value after 'eq'"
        );
    }

    #[test]
    fn a_saved_mapping_with_a_bad_filter_is_refused_naming_the_position() {
        let mut m = serde_json::to_value(default_mappings().get("CUSTOMER").unwrap()).unwrap();
        m["financials"]["filter"] = "blocked eq ' '' ".into();
        let err = TableMapping::from_value(m.clone()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mapping CUSTOMER: the Financials table filter is invalid: invalid filter at position 11: the string starting here is not closed with a quote (')"
        );
        // Read any other way (a stored definition), the mapping fails as a whole.
        let err = serde_json::from_value::<TableMapping>(m).unwrap_err();
        assert!(err.to_string().starts_with("invalid filter at position 11"), "{err}");
    }

    #[test]
    fn a_deeply_nested_filter_on_import_is_refused() {
        let mut file = serde_json::to_value(default_mappings()).unwrap();
        let deep = format!("{}blocked eq ' '{}", "(".repeat(10_000), ")".repeat(10_000));
        file["mappings"][0]["financials"]["filter"] = deep.into();
        let err = MappingSet::from_json(&file.to_string()).unwrap_err();
        assert!(err.to_string().contains("the filter nests more than 100 levels deep"), "{err}");
    }
}
