//! Directions of table and field mappings and the one-way passes they run.

use serde::{Deserialize, Serialize};

use crate::types::Side;

/// Direction of a table or field mapping, in Business Central's terms: the "table" is
/// Financials, the "integration table" is Sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    Bidirectional,
    /// Financials → Sales.
    ToIntegrationTable,
    /// Sales → Financials.
    FromIntegrationTable,
}

impl Direction {
    /// The one-way passes this direction runs, Financials → Sales first.
    pub fn passes(self) -> Vec<Pass> {
        match self {
            Direction::Bidirectional => vec![Pass::ToSales, Pass::ToFinancials],
            Direction::ToIntegrationTable => vec![Pass::ToSales],
            Direction::FromIntegrationTable => vec![Pass::ToFinancials],
        }
    }
    pub fn allows(self, pass: Pass) -> bool {
        self.passes().contains(&pass)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Bidirectional => "Bidirectional",
            Direction::ToIntegrationTable => "ToIntegrationTable",
            Direction::FromIntegrationTable => "FromIntegrationTable",
        }
    }
}

/// One synchronization pass: source side → destination side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pass {
    /// Financials → Sales ("To Int. Table").
    ToSales,
    /// Sales → Financials ("From Int. Table").
    ToFinancials,
}

impl Pass {
    pub fn source(self) -> Side {
        match self {
            Pass::ToSales => Side::Financials,
            Pass::ToFinancials => Side::Sales,
        }
    }
    pub fn destination(self) -> Side {
        self.source().other()
    }
    pub fn reverse(self) -> Pass {
        match self {
            Pass::ToSales => Pass::ToFinancials,
            Pass::ToFinancials => Pass::ToSales,
        }
    }
    pub fn direction(self) -> Direction {
        match self {
            Pass::ToSales => Direction::ToIntegrationTable,
            Pass::ToFinancials => Direction::FromIntegrationTable,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Pass::ToSales => "ToIntegrationTable",
            Pass::ToFinancials => "FromIntegrationTable",
        }
    }
}
