//! `Row`: a result row from either backend, with typed getters.
//!
//! `get_*` panic on a missing column or a type mismatch (a programming error, like sqlx's
//! `Row::get`); `try_get_*` return the error instead.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{ColumnIndex, Decode, Postgres, Row as _, Sqlite, Type};

use crate::error::Result;

/// One result row.
#[derive(Debug)]
pub enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

/// A column name (`&str`) or position (`usize`) valid for both backends.
pub trait Col: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + std::fmt::Debug + Copy {}
impl<T: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + std::fmt::Debug + Copy> Col for T {}

/// A Rust type both drivers decode.
pub trait Decodable:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}
impl<T> Decodable for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl Row {
    pub fn try_get<T: Decodable>(&self, col: impl Col) -> Result<T> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Postgres(r) => r.try_get(col)?,
        })
    }

    pub fn get<T: Decodable>(&self, col: impl Col) -> T {
        match self.try_get(col) {
            Ok(v) => v,
            Err(e) => panic!("cannot read column {col:?}: {e}"),
        }
    }

    /// Any integer column (on PostgreSQL also INT4/INT2, e.g. from an expression).
    pub fn try_get_opt_i64(&self, col: impl Col) -> Result<Option<i64>> {
        match self {
            Row::Sqlite(r) => Ok(r.try_get::<Option<i64>, _>(col)?),
            Row::Postgres(r) => match r.try_get::<Option<i64>, _>(col) {
                Ok(v) => Ok(v),
                Err(sqlx::Error::ColumnDecode { .. }) => match r.try_get::<Option<i32>, _>(col) {
                    Ok(v) => Ok(v.map(i64::from)),
                    Err(_) => Ok(r.try_get::<Option<i16>, _>(col)?.map(i64::from)),
                },
                Err(e) => Err(e.into()),
            },
        }
    }

    pub fn try_get_i64(&self, col: impl Col) -> Result<i64> {
        match self.try_get_opt_i64(col)? {
            Some(v) => Ok(v),
            None => Err(sqlx::Error::ColumnDecode {
                index: format!("{col:?}"),
                source: "unexpected NULL".into(),
            }
            .into()),
        }
    }

    pub fn get_i64(&self, col: impl Col) -> i64 {
        unwrap_col(self.try_get_i64(col), col)
    }

    pub fn get_opt_i64(&self, col: impl Col) -> Option<i64> {
        unwrap_col(self.try_get_opt_i64(col), col)
    }

    pub fn get_string(&self, col: impl Col) -> String {
        self.get(col)
    }

    pub fn get_opt_string(&self, col: impl Col) -> Option<String> {
        self.get(col)
    }

    /// BOOLEAN column (on SQLite an integer 0/1).
    pub fn get_bool(&self, col: impl Col) -> bool {
        self.get(col)
    }

    pub fn get_opt_bool(&self, col: impl Col) -> Option<bool> {
        self.get(col)
    }

    pub fn get_f64(&self, col: impl Col) -> f64 {
        self.get(col)
    }

    pub fn get_opt_f64(&self, col: impl Col) -> Option<f64> {
        self.get(col)
    }

    /// A GUID stored as TEXT.
    pub fn try_get_opt_uuid(&self, col: impl Col) -> Result<Option<uuid::Uuid>> {
        let s: Option<String> = self.try_get(col)?;
        s.map(|s| {
            uuid::Uuid::parse_str(&s).map_err(|e| {
                sqlx::Error::ColumnDecode { index: format!("{col:?}"), source: Box::new(e) }.into()
            })
        })
        .transpose()
    }

    pub fn get_uuid(&self, col: impl Col) -> uuid::Uuid {
        match self.try_get_opt_uuid(col) {
            Ok(Some(v)) => v,
            Ok(None) => panic!("cannot read column {col:?}: unexpected NULL"),
            Err(e) => panic!("cannot read column {col:?}: {e}"),
        }
    }

    pub fn get_opt_uuid(&self, col: impl Col) -> Option<uuid::Uuid> {
        unwrap_col(self.try_get_opt_uuid(col), col)
    }

    /// Column names in order.
    pub fn columns(&self) -> Vec<&str> {
        use sqlx::Column as _;
        match self {
            Row::Sqlite(r) => r.columns().iter().map(|c| c.name()).collect(),
            Row::Postgres(r) => r.columns().iter().map(|c| c.name()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Row::Sqlite(r) => r.len(),
            Row::Postgres(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn unwrap_col<T>(res: Result<T>, col: impl Col) -> T {
    match res {
        Ok(v) => v,
        Err(e) => panic!("cannot read column {col:?}: {e}"),
    }
}
