//! The entity model: what an OData service exposes and how each property is stored.
//!
//! One `Model` describes a service (Financials or Sales). Each `EntityType` maps to one SQL table;
//! each `Property` to one column. The storage encoding of every EDM type is fixed here, so that the
//! `$filter` lowering, the generic store and the JSON payloads agree on both SQLite and PostgreSQL:
//!
//! | EDM type          | column type (both backends) | stored value                                   |
//! |-------------------|-----------------------------|------------------------------------------------|
//! | Guid              | TEXT                        | lowercase hyphenated                           |
//! | String            | TEXT                        | as is                                          |
//! | Int32 / Int64     | BIGINT                      | as is                                          |
//! | Decimal { scale } | BIGINT                      | value × 10^scale (exact, sortable, summable)   |
//! | Double            | DOUBLE PRECISION            | as is                                          |
//! | Boolean           | BOOLEAN                     | as is                                          |
//! | DateTimeOffset    | BIGINT                      | microseconds since the Unix epoch, UTC         |
//! | Date              | TEXT                        | `YYYY-MM-DD` (text order = date order)         |

/// How a property is typed in EDM and stored in SQL (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdmType {
    Guid,
    String,
    Int32,
    Int64,
    /// Exact decimal stored as a scaled BIGINT; `scale` digits after the point are kept.
    Decimal {
        scale: u8,
    },
    Double,
    Boolean,
    DateTimeOffset,
    Date,
}

impl EdmType {
    /// Money and prices: five decimals, like Business Central's unit prices.
    pub const MONEY: EdmType = EdmType::Decimal { scale: 5 };
    /// Exchange rates: ten decimals, like Dataverse's `exchangerate`.
    pub const RATE: EdmType = EdmType::Decimal { scale: 10 };

    /// The CSDL name, e.g. `Edm.Guid`.
    pub fn edm_name(self) -> &'static str {
        match self {
            EdmType::Guid => "Edm.Guid",
            EdmType::String => "Edm.String",
            EdmType::Int32 => "Edm.Int32",
            EdmType::Int64 => "Edm.Int64",
            EdmType::Decimal { .. } => "Edm.Decimal",
            EdmType::Double => "Edm.Double",
            EdmType::Boolean => "Edm.Boolean",
            EdmType::DateTimeOffset => "Edm.DateTimeOffset",
            EdmType::Date => "Edm.Date",
        }
    }

    /// The SQL column type, the same text on both backends.
    pub fn sql_type(self) -> &'static str {
        match self {
            EdmType::Guid | EdmType::String | EdmType::Date => "TEXT",
            EdmType::Int32 | EdmType::Int64 | EdmType::Decimal { .. } | EdmType::DateTimeOffset => {
                "BIGINT"
            }
            EdmType::Double => "DOUBLE PRECISION",
            EdmType::Boolean => "BOOLEAN",
        }
    }
}

/// A structural property: one JSON member, one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// The JSON / OData name (`name`, `_parentcustomerid_value`, `displayName`).
    pub name: String,
    /// The SQL column (`name`, `parentcustomerid`, `display_name`).
    pub column: String,
    pub ty: EdmType,
    pub nullable: bool,
    pub max_length: Option<u32>,
    /// Computed or system-maintained: rejected in request bodies with a clear error.
    pub read_only: bool,
}

impl Property {
    pub fn new(name: &str, column: &str, ty: EdmType) -> Self {
        Property {
            name: name.to_owned(),
            column: column.to_owned(),
            ty,
            nullable: true,
            max_length: None,
            read_only: false,
        }
    }
    pub fn required(mut self) -> Self {
        self.nullable = false;
        self
    }
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
    pub fn max_length(mut self, n: u32) -> Self {
        self.max_length = Some(n);
        self
    }
}

/// A navigation property, resolved through a foreign key column.
#[derive(Debug, Clone, PartialEq)]
pub struct Navigation {
    /// The navigation name (`primarycontactid`, `parentcustomerid_account`, `salesOrderLines`).
    pub name: String,
    /// Entity set name of the target (`contacts`).
    pub target_set: String,
    pub kind: NavigationKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NavigationKind {
    /// Single-valued: this entity's property `local_property` holds the target's key.
    ToOne { local_property: String },
    /// Collection-valued: the target's property `remote_property` holds this entity's key.
    ToMany { remote_property: String },
}

/// One entity type with its entity set and table.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityType {
    /// Type name (`account`, `customer`).
    pub name: String,
    /// Entity set name (`accounts`, `customers`).
    pub set_name: String,
    /// SQL table.
    pub table: String,
    /// Name of the key property (a Guid).
    pub key: String,
    pub properties: Vec<Property>,
    pub navigations: Vec<Navigation>,
    /// Alternate keys, each a list of property names (`accountnumber`).
    pub alternate_keys: Vec<Vec<String>>,
    /// Property the store sets to the creation time on insert (`createdon`), if any.
    pub created_property: Option<String>,
    /// Property the store sets to the modification time on every write (`modifiedon`,
    /// `lastModifiedDateTime`), if any.
    pub modified_property: Option<String>,
}

/// The store-maintained column every entity table has: a number that grows with every write to
/// the row, unique across the store. It is the ETag (`W/"<row_version>"`) and the change-feed order.
pub const ROW_VERSION_COLUMN: &str = "row_version";

impl EntityType {
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }
    pub fn navigation(&self, name: &str) -> Option<&Navigation> {
        self.navigations.iter().find(|n| n.name == name)
    }
    pub fn key_property(&self) -> &Property {
        self.property(&self.key).expect("entity model names a key that is one of its properties")
    }
}

/// A whole service: namespace, container and entity types.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// CSDL namespace (`Microsoft.Dynamics.CRM`, `Microsoft.NAV`).
    pub namespace: String,
    pub container: String,
    pub entity_types: Vec<EntityType>,
}

impl Model {
    pub fn entity_set(&self, set_name: &str) -> Option<&EntityType> {
        self.entity_types.iter().find(|e| e.set_name == set_name)
    }
    pub fn entity_type(&self, name: &str) -> Option<&EntityType> {
        self.entity_types.iter().find(|e| e.name == name)
    }
}
