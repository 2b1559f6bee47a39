//! The DDL of the Sales tables, generated from the model.
//!
//! Migrations are plain SQL files (append-only); `2000_sales.sql` was produced by
//! [`entity_tables_sql`] and a test keeps the two in step (`UPDATE_MIGRATIONS=1` rewrites it while
//! the first migration is still unreleased).

use kontor_odata::model::{EntityType, ROW_VERSION_COLUMN};

use crate::model::model;

/// `CREATE TABLE` for one entity table plus its indexes (the same text on both backends).
pub fn create_table_sql(e: &EntityType) -> String {
    let mut cols = vec![];
    for p in &e.properties {
        if p.column == ROW_VERSION_COLUMN {
            continue;
        }
        let mut c = format!("    {} {}", p.column, p.ty.sql_type());
        if p.name == e.key {
            c.push_str(" NOT NULL PRIMARY KEY");
        }
        cols.push(c);
    }
    cols.push(format!("    {ROW_VERSION_COLUMN} BIGINT NOT NULL"));
    let mut sql = format!("CREATE TABLE {} (\n{}\n);\n", e.table, cols.join(",\n"));
    sql.push_str(&format!(
        "CREATE INDEX {t}_version ON {t} ({ROW_VERSION_COLUMN});\n",
        t = e.table
    ));
    for (i, key) in e.alternate_keys.iter().enumerate() {
        let columns: Vec<&str> =
            key.iter().filter_map(|k| e.property(k).map(|p| p.column.as_str())).collect();
        sql.push_str(&format!(
            "CREATE UNIQUE INDEX {t}_ak{i} ON {t} ({});\n",
            columns.join(", "),
            t = e.table
        ));
    }
    for p in &e.properties {
        if p.name.starts_with('_') && p.name.ends_with("_value") && p.name != "_createdby_value" {
            sql.push_str(&format!(
                "CREATE INDEX {t}_{c} ON {t} ({c});\n",
                t = e.table,
                c = p.column
            ));
        }
    }
    sql
}

/// The whole first migration: every entity table, then Sales' own tables.
pub fn entity_tables_sql() -> String {
    let mut sql = String::from(
        "-- kontor-sales: Dataverse tables (generated from the model by kontor_sales::schema).\n",
    );
    for e in &model().entity_types {
        sql.push('\n');
        sql.push_str(&create_table_sql(e));
    }
    sql.push_str(OWN_TABLES);
    sql
}

const OWN_TABLES: &str = "
-- N:N systemuserroles_association.
CREATE TABLE crm_systemuserroles (
    systemuserid TEXT NOT NULL,
    roleid TEXT NOT NULL,
    PRIMARY KEY (systemuserid, roleid)
);
-- Privileges of each role (prvCreateAccount …).
CREATE TABLE crm_roleprivileges (
    roleid TEXT NOT NULL,
    privilegename TEXT NOT NULL,
    PRIMARY KEY (roleid, privilegename)
);
-- Credentials: argon2 password hashes (interactive users), sha256 client-secret hashes (applications).
CREATE TABLE crm_credential (
    systemuserid TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT,
    secret_hash TEXT
);
-- Issued bearer tokens, stored as sha256 hashes.
CREATE TABLE crm_token (
    token_hash TEXT NOT NULL PRIMARY KEY,
    systemuserid TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX crm_token_expires ON crm_token (expires_at);
-- Installed solutions.
CREATE TABLE crm_solution (
    uniquename TEXT NOT NULL PRIMARY KEY,
    version TEXT NOT NULL,
    installedon BIGINT NOT NULL
);
-- The Kontor integration's Financials connection (access key encrypted at rest).
CREATE TABLE crm_kontor_connection (
    name TEXT NOT NULL PRIMARY KEY,
    odata_url TEXT NOT NULL,
    user_name TEXT NOT NULL,
    access_key_encrypted TEXT,
    modifiedon BIGINT NOT NULL
);
-- Auto-numbering (ordernumber, invoicenumber).
CREATE TABLE crm_sequence (
    name TEXT NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_migration_is_the_ddl_generated_from_the_model() {
        let expected = entity_tables_sql();
        for backend in ["sqlite", "postgres"] {
            // The test runner's manifest folder: a reused binary may have been compiled in
            // another clone.
            let dir = std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
            let path = format!("{dir}/migrations/{backend}/2000_sales.sql");
            if std::env::var_os("UPDATE_MIGRATIONS").is_some() {
                std::fs::write(&path, &expected).unwrap();
            }
            let actual = std::fs::read_to_string(&path).unwrap();
            assert_eq!(actual, expected, "{path} differs from the model; see schema.rs");
        }
    }
}
