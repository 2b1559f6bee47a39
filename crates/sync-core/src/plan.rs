//! The plan: a pure function from (source changes, coupled destination rows, couplings with their
//! last-synced values, the mapping, lookup tables) to the operations one pass must apply.
//!
//! Change detection is a field-level three-way merge. Each coupling keeps the values of every
//! mapped field as they were after the last sync (the *base*), on both sides. In a pass
//! source → destination, a field is written when the source changed it since the base; if the
//! destination changed the same bidirectional field too, that is a conflict, which the mapping's
//! policy resolves or the record fails naming the fields. A field changed only on the destination
//! is left alone (the opposite pass carries it back), so edits of different fields merge. A row
//! whose fields all equal the base produces nothing — which is also how the integration user's own
//! writes (echoes) are suppressed.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::filter::{self, Filter};
use crate::ids::target_id;
use crate::mapping::{
    DeletionPolicy, Direction, FieldMapping, Pass, TableMapping, UpdateConflictPolicy,
    WhenUncoupled,
};
use crate::types::{Change, Record, Row, Side};
use crate::value::{same, transform};

/// The mapped field values of a coupled pair as they were after the last sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Base {
    pub financials: Record,
    pub sales: Record,
    /// The side on which the integration created the coupled record. Its values that the base
    /// does not hold (fields mapped only the other way, computed columns) came from the
    /// integration's own write, so they are no change of a user's while the integration is
    /// still the record's last modifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_in: Option<Side>,
}

impl Base {
    pub fn side(&self, side: Side) -> &Record {
        match side {
            Side::Financials => &self.financials,
            Side::Sales => &self.sales,
        }
    }
    fn side_mut(&mut self, side: Side) -> &mut Record {
        match side {
            Side::Financials => &mut self.financials,
            Side::Sales => &mut self.sales,
        }
    }
}

/// A coupling as the plan needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coupling {
    pub financials_id: Uuid,
    pub sales_id: Uuid,
    /// `None` for a coupling made by hand or by matching and never synchronized.
    pub base: Option<Base>,
}

impl Coupling {
    pub fn id(&self, side: Side) -> Uuid {
        match side {
            Side::Financials => self.financials_id,
            Side::Sales => self.sales_id,
        }
    }
}

/// How references to one mapped table translate: Financials key value ↔ Sales id.
#[derive(Debug, Clone, Default)]
pub struct LookupTable {
    pub financials_caption: String,
    pub sales_caption: String,
    pub plural: String,
    /// The Sales side is an option set: ids are option ids ([`crate::ids::option_id`]).
    pub option: bool,
    by_key: HashMap<String, Option<Uuid>>,
    by_sales: HashMap<Uuid, Value>,
}

fn lookup_key(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => {
            Some(if Uuid::parse_str(s).is_ok() { s.to_ascii_lowercase() } else { s.to_uppercase() })
        }
        other => Some(other.to_string()),
    }
}

impl LookupTable {
    pub fn new(mapping: &TableMapping) -> LookupTable {
        LookupTable {
            financials_caption: mapping.financials.caption.clone(),
            sales_caption: mapping.sales.caption.clone(),
            plural: mapping.plural.clone(),
            option: mapping.is_option_set(),
            ..LookupTable::default()
        }
    }
    /// Adds a Financials record (its key value) and the Sales id it is coupled to, if any.
    pub fn add(&mut self, financials_key: Value, sales_id: Option<Uuid>) {
        if let Some(k) = lookup_key(&financials_key) {
            if let Some(s) = sales_id {
                self.by_sales.insert(s, financials_key);
            }
            self.by_key.insert(k, sales_id);
        }
    }
    pub fn len(&self) -> usize {
        self.by_key.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Lookup tables keyed by `(mapping, financials key field)`.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    tables: HashMap<(String, String), LookupTable>,
}

impl Lookups {
    pub fn insert(&mut self, mapping: &str, financials_key: &str, table: LookupTable) {
        self.tables.insert((mapping.to_owned(), financials_key.to_owned()), table);
    }
    pub fn get(&self, mapping: &str, financials_key: &str) -> Option<&LookupTable> {
        self.tables.get(&(mapping.to_owned(), financials_key.to_owned()))
    }
}

/// Everything the plan looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub connection_id: Uuid,
    pub mapping: &'a TableMapping,
    pub pass: Pass,
    /// A full synchronization creates records for uncoupled rows even when the mapping
    /// synchronizes only coupled records.
    pub full_sync: bool,
    /// The integration user's id on the source side (lowercase), for echo reporting.
    pub integration_user: Option<&'a str>,
    pub changes: &'a [Change],
    /// Couplings of the page's rows (others are ignored).
    pub couplings: &'a [Coupling],
    /// Destination rows: the coupled ones and those at the deterministic target ids.
    pub destination: &'a [Row],
    /// Source id → destination id found by match-based coupling.
    pub matches: &'a HashMap<Uuid, Uuid>,
    /// Source ids marked skipped (same error twice) until retried.
    pub skipped: &'a HashSet<Uuid>,
    pub lookups: &'a Lookups,
}

/// What to do with one source record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Create the destination record with this key.
    Insert {
        target: Uuid,
        fields: Record,
        base: Base,
    },
    /// Write these fields of the coupled destination record.
    Update {
        target: Uuid,
        fields: Record,
        base: Base,
    },
    /// Couple with an existing destination record (deterministic id or match) and write these fields.
    Couple {
        target: Uuid,
        fields: Record,
        base: Base,
    },
    /// Nothing to write; `base` is set when the stored one should be refreshed.
    Unchanged {
        target: Uuid,
        echo: bool,
        base: Option<Base>,
    },
    /// Delete a record on `side` and its coupling.
    Delete {
        side: Side,
        id: Uuid,
        financials_id: Uuid,
        sales_id: Uuid,
    },
    /// Recreate a deleted record on `side` with its old key, keeping the coupling.
    Restore {
        side: Side,
        id: Uuid,
        fields: Record,
        base: Base,
    },
    /// Remove the coupling.
    Uncouple {
        financials_id: Uuid,
        sales_id: Uuid,
        reason: String,
    },
    Skip {
        reason: String,
    },
    Fail {
        target: Option<Uuid>,
        message: String,
    },
}

/// One planned operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub source_id: Uuid,
    pub action: Action,
}

/// Counters as an Integration Synch. Job shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub inserted: u64,
    pub modified: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
    pub coupled: u64,
    pub uncoupled: u64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.inserted += o.inserted;
        self.modified += o.modified;
        self.deleted += o.deleted;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.coupled += o.coupled;
        self.uncoupled += o.uncoupled;
    }
    /// Counts an action that was applied successfully.
    pub fn count(&mut self, a: &Action) {
        match a {
            Action::Insert { .. } => self.inserted += 1,
            Action::Update { .. } | Action::Restore { .. } => self.modified += 1,
            Action::Couple { fields, .. } => {
                self.coupled += 1;
                if !fields.is_empty() {
                    self.modified += 1;
                }
            }
            Action::Unchanged { .. } => self.unchanged += 1,
            Action::Delete { .. } => {
                self.deleted += 1;
                self.uncoupled += 1;
            }
            Action::Uncouple { .. } => self.uncoupled += 1,
            Action::Skip { .. } => self.skipped += 1,
            Action::Fail { .. } => self.failed += 1,
        }
    }
    /// Nothing happened (Business Central's "idle" run).
    pub fn is_idle(&self) -> bool {
        self.inserted + self.modified + self.deleted + self.failed + self.coupled + self.uncoupled
            == 0
    }
}

struct Planner<'a> {
    input: PlanInput<'a>,
    src: Side,
    dst: Side,
    filter: Option<&'a Filter>,
    couplings: HashMap<Uuid, &'a Coupling>,
    destination: HashMap<Uuid, &'a Row>,
}

struct Merge {
    fields: Record,
    base: Base,
    conflicts: Vec<String>,
    errors: Vec<String>,
}

/// Plans one page of a pass.
pub fn plan(input: PlanInput<'_>) -> Vec<Operation> {
    let src = input.pass.source();
    let dst = input.pass.destination();
    let filter = input.mapping.side(src).filter.as_ref();
    let planner = Planner {
        src,
        dst,
        filter,
        couplings: input.couplings.iter().map(|c| (c.id(src), c)).collect(),
        destination: input.destination.iter().map(|r| (r.id, r)).collect(),
        input,
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    // A page may carry several changes of one row: only the last counts.
    for change in input.changes.iter().rev() {
        if seen.insert(change.id())
            && let Some(action) = planner.one(change)
        {
            out.push(Operation { source_id: change.id(), action });
        }
    }
    out.reverse();
    out
}

fn display(row: &Record, field: &str, id: Uuid) -> String {
    match row.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => id.to_string(),
    }
}

impl Planner<'_> {
    fn mapping(&self) -> &TableMapping {
        self.input.mapping
    }

    fn one(&self, change: &Change) -> Option<Action> {
        let m = self.mapping();
        match change {
            Change::Deleted(id) => {
                let c = self.couplings.get(id)?;
                let target = c.id(self.dst);
                let reason =
                    format!("the {} was deleted in {}", m.side(self.src).caption, self.src);
                Some(match m.deletion_conflict {
                    DeletionPolicy::RemoveCoupling => Action::Uncouple {
                        financials_id: c.financials_id,
                        sales_id: c.sales_id,
                        reason,
                    },
                    DeletionPolicy::Propagate => match self.destination.get(&target) {
                        Some(_) => Action::Delete {
                            side: self.dst,
                            id: target,
                            financials_id: c.financials_id,
                            sales_id: c.sales_id,
                        },
                        None => Action::Uncouple {
                            financials_id: c.financials_id,
                            sales_id: c.sales_id,
                            reason,
                        },
                    },
                    DeletionPolicy::Restore => match self.destination.get(&target) {
                        Some(d) => {
                            let merge = self.transfer(
                                &d.fields,
                                None,
                                None,
                                self.input.pass.reverse(),
                                true,
                            );
                            if !merge.errors.is_empty() {
                                return Some(Action::Fail {
                                    target: Some(target),
                                    message: merge.errors.join(" "),
                                });
                            }
                            Action::Restore {
                                side: self.src,
                                id: *id,
                                fields: merge.fields,
                                base: merge.base,
                            }
                        }
                        None => Action::Uncouple {
                            financials_id: c.financials_id,
                            sales_id: c.sales_id,
                            reason: "both coupled records were deleted".into(),
                        },
                    },
                    DeletionPolicy::Fail => Action::Fail {
                        target: Some(target),
                        message: format!(
                            "The {} '{}' is coupled to a {} that was deleted in {}. Restore it, remove the coupling or delete it.",
                            m.side(self.dst).caption,
                            self.destination
                                .get(&target)
                                .map(|d| display(
                                    &d.fields,
                                    &m.side(self.dst).display_field,
                                    target
                                ))
                                .unwrap_or_else(|| target.to_string()),
                            m.side(self.src).caption.to_lowercase(),
                            self.src,
                        ),
                    },
                })
            }
            Change::Upsert(row) => {
                if !filter::matches(self.filter, &row.fields) {
                    return None;
                }
                if self.input.skipped.contains(&row.id) {
                    return Some(Action::Skip {
                        reason: "skipped after failing twice with the same error; retry it to include it again".into(),
                    });
                }
                match self.couplings.get(&row.id) {
                    Some(c) => Some(self.coupled(row, c)),
                    None => self.uncoupled(row),
                }
            }
        }
    }

    fn coupled(&self, row: &Row, c: &Coupling) -> Action {
        let m = self.mapping();
        let target = c.id(self.dst);
        let Some(d) = self.destination.get(&target) else {
            let caption = &m.side(self.src).caption;
            let name = display(&row.fields, &m.side(self.src).display_field, row.id);
            return match m.deletion_conflict {
                DeletionPolicy::Restore => {
                    let merge = self.transfer(&row.fields, None, None, self.input.pass, true);
                    if !merge.errors.is_empty() {
                        return Action::Fail {
                            target: Some(target),
                            message: merge.errors.join(" "),
                        };
                    }
                    Action::Restore {
                        side: self.dst,
                        id: target,
                        fields: merge.fields,
                        base: merge.base,
                    }
                }
                DeletionPolicy::RemoveCoupling => Action::Uncouple {
                    financials_id: c.financials_id,
                    sales_id: c.sales_id,
                    reason: format!(
                        "the coupled {} was deleted in {}",
                        m.side(self.dst).caption,
                        self.dst
                    ),
                },
                DeletionPolicy::Propagate => Action::Delete {
                    side: self.src,
                    id: row.id,
                    financials_id: c.financials_id,
                    sales_id: c.sales_id,
                },
                DeletionPolicy::Fail => Action::Fail {
                    target: Some(target),
                    message: format!(
                        "The {caption} '{name}' is coupled to a deleted record in {}. Restore it, remove the coupling or delete it.",
                        self.dst
                    ),
                },
            };
        };
        let merge =
            self.transfer(&row.fields, Some(&d.fields), c.base.as_ref(), self.input.pass, false);
        if let Some(fail) = self.failure(row, &merge, target) {
            return fail;
        }
        if merge.fields.is_empty() {
            let echo = self
                .input
                .integration_user
                .is_some_and(|u| row.modified_by(self.src).as_deref() == Some(u));
            let base = (c.base.as_ref() != Some(&merge.base)).then_some(merge.base);
            return Action::Unchanged { target, echo, base };
        }
        Action::Update { target, fields: merge.fields, base: merge.base }
    }

    fn uncoupled(&self, row: &Row) -> Option<Action> {
        let m = self.mapping();
        let deterministic = target_id(self.input.connection_id, &m.name, row.id);
        let existing =
            self.destination.get(&deterministic).map(|d| (deterministic, *d)).or_else(|| {
                let t = self.input.matches.get(&row.id)?;
                self.destination.get(t).map(|d| (*t, *d))
            });
        if let Some((target, d)) = existing {
            let merge = self.transfer(&row.fields, Some(&d.fields), None, self.input.pass, false);
            if let Some(fail) = self.failure(row, &merge, target) {
                return Some(fail);
            }
            return Some(Action::Couple { target, fields: merge.fields, base: merge.base });
        }
        if m.synch_only_coupled && !self.input.full_sync {
            return None;
        }
        let merge = self.transfer(&row.fields, None, None, self.input.pass, false);
        if let Some(fail) = self.failure(row, &merge, deterministic) {
            return Some(fail);
        }
        let mut base = merge.base;
        base.created_in = Some(self.dst);
        Some(Action::Insert { target: deterministic, fields: merge.fields, base })
    }

    fn failure(&self, row: &Row, merge: &Merge, target: Uuid) -> Option<Action> {
        let m = self.mapping();
        if !merge.errors.is_empty() {
            return Some(Action::Fail { target: Some(target), message: merge.errors.join(" ") });
        }
        if !merge.conflicts.is_empty() {
            let name = display(&row.fields, &m.side(self.src).display_field, row.id);
            return Some(Action::Fail {
                target: Some(target),
                message: format!(
                    "Cannot update the {} coupled to {} '{}': {} changed in both Financials and Sales since the last synchronization. Change one side back or set the {} mapping's update conflict policy.",
                    m.side(self.dst).caption,
                    m.side(self.src).caption.to_lowercase(),
                    name,
                    merge.conflicts.join(", "),
                    m.name,
                ),
            });
        }
        None
    }

    /// Field-level transfer and three-way merge for `pass`. `d` is the destination record
    /// (`None` when creating); `all_fields` ignores field directions (restoring a record).
    fn transfer(
        &self,
        s: &Record,
        d: Option<&Record>,
        base: Option<&Base>,
        pass: Pass,
        all_fields: bool,
    ) -> Merge {
        let m = self.mapping();
        let (src, dst) = (pass.source(), pass.destination());
        let mut out = Merge {
            fields: Record::new(),
            base: base.cloned().unwrap_or_default(),
            conflicts: vec![],
            errors: vec![],
        };
        let financials_record = match src {
            Side::Financials => Some(s),
            Side::Sales => d,
        };
        let fields = m.fields.iter().filter(|f| f.used_for(financials_record)).filter(|f| {
            if all_fields {
                f.enabled
                    && f.field(dst).is_some()
                    && (f.field(src).is_some() || f.constant.is_some())
            } else {
                f.applies_to(pass)
            }
        });
        for fm in fields {
            let dst_field = fm.field(dst).expect("filtered on a destination field");
            if fm.insert_only && d.is_some() {
                continue;
            }
            let want = match desired(fm, s, pass, self.input.lookups) {
                Ok(v) => v,
                Err(e) => {
                    if !out.errors.contains(&e) {
                        out.errors.push(e);
                    }
                    continue;
                }
            };
            let src_field = fm.field(src);
            let src_val = src_field.map(|f| s.get(f).cloned().unwrap_or(Value::Null));
            let write = |out: &mut Merge, value: Value| {
                if let (Some(f), Some(v)) = (src_field, &src_val) {
                    out.base.side_mut(src).insert(f.to_owned(), v.clone());
                }
                out.base.side_mut(dst).insert(dst_field.to_owned(), value);
            };
            let Some(d) = d else {
                out.fields.insert(dst_field.to_owned(), want.clone());
                write(&mut out, want);
                continue;
            };
            let cur = d.get(dst_field).cloned().unwrap_or(Value::Null);
            if same(&want, &cur) {
                write(&mut out, cur);
                continue;
            }
            let src_changed = match (src_field, base) {
                (None, _) | (_, None) => true,
                (Some(f), Some(b)) => match b.side(src).get(f) {
                    None => true,
                    Some(bv) => !same(bv, src_val.as_ref().unwrap_or(&Value::Null)),
                },
            };
            if !src_changed {
                continue;
            }
            let dst_changed =
                base.and_then(|b| b.side(dst).get(dst_field)).is_some_and(|bv| !same(bv, &cur));
            let two_way =
                fm.direction == Direction::Bidirectional && m.direction == Direction::Bidirectional;
            if dst_changed && two_way {
                let source_wins = match m.update_conflict {
                    UpdateConflictPolicy::Fail => {
                        out.conflicts.push(fm.label());
                        continue;
                    }
                    UpdateConflictPolicy::FinancialsWins => src == Side::Financials,
                    UpdateConflictPolicy::SalesWins => src == Side::Sales,
                };
                if !source_wins {
                    continue;
                }
            }
            out.fields.insert(dst_field.to_owned(), want.clone());
            write(&mut out, want);
        }
        out
    }
}

/// The value `fm` wants on the destination of `pass`, from the source record.
pub(crate) fn desired(
    fm: &FieldMapping,
    src_row: &Record,
    pass: Pass,
    lookups: &Lookups,
) -> Result<Value, String> {
    let src = pass.source();
    let Some(src_field) = fm.field(src) else {
        return Ok(fm.constant.clone().unwrap_or(Value::Null));
    };
    let mut v = src_row.get(src_field).cloned().unwrap_or(Value::Null);
    if let Some(l) = &fm.lookup {
        v = resolve(l, &v, pass, lookups)?;
    }
    if let Some(t) = &fm.transformation {
        v = transform(t, &v, pass);
    }
    Ok(v)
}

fn resolve(
    l: &crate::mapping::Lookup,
    v: &Value,
    pass: Pass,
    lookups: &Lookups,
) -> Result<Value, String> {
    let Some(key) = lookup_key(v) else {
        return Ok(Value::Null);
    };
    let table = lookups.get(&l.mapping, &l.financials_key);
    let (fin_caption, sales_caption, plural) = match table {
        Some(t) => (t.financials_caption.clone(), t.sales_caption.clone(), t.plural.clone()),
        None => (l.mapping.clone(), l.target_set.clone(), l.mapping.to_lowercase()),
    };
    let option = table.is_some_and(|t| t.option);
    match pass {
        Pass::ToSales => match table.and_then(|t| t.by_key.get(&key)) {
            Some(Some(id)) if option => match crate::ids::option_value(*id) {
                Some(n) => Ok(Value::from(n)),
                None => Err(format!(
                    "{fin_caption} '{}' is coupled to {id}, which is not a Sales option value. Couple {plural} again.",
                    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
                )),
            },
            Some(Some(id)) => Ok(Value::String(id.to_string())),
            _ => Err(format!(
                "{fin_caption} '{}' is not coupled to a {sales_caption}. Couple {plural} first.",
                v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
            )),
        },
        Pass::ToFinancials => {
            let sales_id = if option {
                key.parse::<i64>().ok().map(crate::ids::option_id)
            } else {
                Uuid::parse_str(&key).ok()
            };
            let found = sales_id.and_then(|id| table.and_then(|t| t.by_sales.get(&id)));
            match (found, l.when_uncoupled) {
                (Some(k), _) => Ok(k.clone()),
                (None, WhenUncoupled::Blank) => Ok(Value::Null),
                (None, WhenUncoupled::Fail) => Err(format!(
                    "{sales_caption} '{key}' is not coupled to a {}. Couple {plural} first.",
                    fin_caption.to_lowercase()
                )),
            }
        }
    }
}

/// Whether a coupled source row still holds the values of its last sync in every field `pass`
/// writes (constants included): then the pass has nothing to write for it, whatever the
/// destination holds (destination-only changes travel in the opposite pass), so the engine
/// need not even read the destination row. Echoes of the integration user's writes are the
/// common case.
pub fn unchanged_since_base(
    mapping: &TableMapping,
    pass: Pass,
    source: &Record,
    base: &Base,
    echo: bool,
) -> bool {
    let (src, dst) = (pass.source(), pass.destination());
    // Values the base lacks (fields and constants mapped only the other way) are the
    // integration's own while it created the record and is still its last modifier: nothing
    // changed since its write. Otherwise they count as changed.
    let own = echo && base.created_in == Some(src);
    mapping.fields.iter().filter(|f| f.applies_to(pass) && !f.insert_only).all(|f| {
        match f.field(src) {
            Some(sf) => match base.side(src).get(sf) {
                Some(b) => same(b, source.get(sf).unwrap_or(&Value::Null)),
                None => own,
            },
            None => {
                let df = f.field(dst).expect("applies_to checked the destination field");
                match base.side(dst).get(df) {
                    Some(b) => same(b, f.constant.as_ref().unwrap_or(&Value::Null)),
                    None => own,
                }
            }
        }
    })
}

fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_lowercase()),
        other => Some(other.to_string()),
    }
}

fn match_fields(mapping: &TableMapping, pass: Pass) -> impl Iterator<Item = &FieldMapping> {
    mapping
        .fields
        .iter()
        .filter(move |f| f.match_field && f.enabled && f.field(pass.destination()).is_some())
}

/// Whether `pass` of `mapping` can couple by matching fields.
pub fn has_match_fields(mapping: &TableMapping, pass: Pass) -> bool {
    match_fields(mapping, pass).next().is_some()
}

/// The match key of a source record: its match fields as the destination would hold them.
pub fn source_match_key(
    mapping: &TableMapping,
    pass: Pass,
    lookups: &Lookups,
    source: &Record,
) -> Option<String> {
    let mut parts = Vec::new();
    for f in match_fields(mapping, pass) {
        parts.push(key_text(&desired(f, source, pass, lookups).ok()?)?);
    }
    (!parts.is_empty()).then(|| parts.join("\u{1f}"))
}

/// The match key of a destination record.
pub fn destination_match_key(
    mapping: &TableMapping,
    pass: Pass,
    destination: &Record,
) -> Option<String> {
    let mut parts = Vec::new();
    for f in match_fields(mapping, pass) {
        parts.push(key_text(destination.get(f.field(pass.destination())?)?)?);
    }
    (!parts.is_empty()).then(|| parts.join("\u{1f}"))
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
