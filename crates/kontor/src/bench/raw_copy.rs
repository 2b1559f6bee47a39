//! (c) The raw-copy floor: the benchmark's rows read from the Financials store's tables and
//! inserted into the Sales store's tables by a plain loop — keyset pages of 1,000 rows, one
//! prepared `INSERT` per row, one transaction per 1,000 rows. No HTTP, no JSON, no mapping, no
//! couplings: what any synchronization between the two stores must at least cost on this machine.

use kontor_store::Db;
use kontor_store::sea_query::Value;
use kontor_store::sqlx::AssertSqlSafe;

/// Rows per read and per write transaction.
pub const CHUNK: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
}

/// One table copy: Financials table → Sales table, column pairs (the first pair is the key).
struct Copy {
    label: &'static str,
    from: &'static str,
    to: &'static str,
    /// Rows the mapping's table filter keeps (`AND …`), as constant SQL.
    filter: &'static str,
    columns: &'static [(&'static str, &'static str, Kind)],
}

use Kind::{Int, Text};

/// The same four tables the synchronizations move, the columns their default mappings carry.
const COPIES: &[Copy] = &[
    Copy {
        label: "customers → accounts",
        from: "fin_customer",
        to: "crm_account",
        filter: "",
        columns: &[
            ("id", "accountid", Text),
            ("display_name", "name", Text),
            ("number", "accountnumber", Text),
            ("address_line1", "address1_line1", Text),
            ("address_line2", "address1_line2", Text),
            ("postal_code", "address1_postalcode", Text),
            ("city", "address1_city", Text),
            ("country", "address1_country", Text),
            ("state", "address1_stateorprovince", Text),
            ("email", "emailaddress1", Text),
            ("website", "websiteurl", Text),
            ("phone_number", "telephone1", Text),
            ("credit_limit", "creditlimit", Int),
            ("last_modified_date_time", "modifiedon", Int),
        ],
    },
    Copy {
        label: "contacts → contacts",
        from: "fin_contact",
        to: "crm_contact",
        filter: " AND type = 'Person' AND company_number <> ''",
        columns: &[
            ("id", "contactid", Text),
            ("display_name", "fullname", Text),
            ("job_title", "jobtitle", Text),
            ("address_line1", "address1_line1", Text),
            ("city", "address1_city", Text),
            ("country", "address1_country", Text),
            ("postal_code", "address1_postalcode", Text),
            ("email", "emailaddress1", Text),
            ("phone_number", "telephone1", Text),
            ("mobile_phone_number", "mobilephone", Text),
            ("last_modified_date_time", "modifiedon", Int),
        ],
    },
    Copy {
        label: "items → products",
        from: "fin_item",
        to: "crm_product",
        filter: "",
        columns: &[
            ("id", "productid", Text),
            ("number", "productnumber", Text),
            ("display_name", "name", Text),
            ("unit_price", "price", Int),
            ("unit_cost", "standardcost", Int),
            ("unit_cost", "currentcost", Int),
            ("inventory", "quantityonhand", Int),
            ("last_modified_date_time", "modifiedon", Int),
        ],
    },
    Copy {
        label: "salesPrices → productpricelevels",
        from: "fin_sales_price",
        to: "crm_productpricelevel",
        filter: "",
        columns: &[
            ("id", "productpricelevelid", Text),
            ("customer_price_group_id", "pricelevelid", Text),
            ("item_id", "productid", Text),
            ("item_number", "productnumber", Text),
            ("unit_price", "amount", Int),
            ("last_modified_date_time", "modifiedon", Int),
        ],
    },
];

impl Copy {
    fn select_sql(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.0).collect();
        let key = self.columns[0].0;
        format!(
            "SELECT {} FROM {} WHERE {key} > $1{} ORDER BY {key} LIMIT {CHUNK}",
            cols.join(", "),
            self.from,
            self.filter
        )
    }
    fn insert_sql(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.1).collect();
        let params: Vec<String> = (1..=cols.len() + 1).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} ({}, row_version) VALUES ({})",
            self.to,
            cols.join(", "),
            params.join(", ")
        )
    }
}

/// Copies every table; returns the rows written per table.
pub async fn run(financials: &Db, sales: &Db) -> anyhow::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for c in COPIES {
        out.push((c.label.to_owned(), copy_table(financials, sales, c).await?));
    }
    Ok(out)
}

async fn copy_table(financials: &Db, sales: &Db, c: &Copy) -> anyhow::Result<u64> {
    // Table and column names are constants of this module: audited SQL, no input in it.
    let select = c.select_sql();
    let insert = c.insert_sql();
    let mut after = String::new();
    let mut copied = 0u64;
    loop {
        let rows = financials
            .fetch_all_sql(AssertSqlSafe(select.clone()), vec![Value::from(after.clone())])
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get::<String>(0usize)?;
        let mut tx = sales.begin().await?;
        let last_version = tx.next_row_versions(rows.len() as i64).await?;
        let mut version = last_version - rows.len() as i64;
        for row in &rows {
            version += 1;
            let mut binds = Vec::with_capacity(c.columns.len() + 1);
            for (i, (_, _, kind)) in c.columns.iter().enumerate() {
                binds.push(match kind {
                    Text => Value::String(row.try_get::<Option<String>>(i)?),
                    Int => Value::BigInt(row.try_get_opt_i64(i)?),
                });
            }
            binds.push(Value::BigInt(Some(version)));
            tx.execute_sql(AssertSqlSafe(insert.clone()), binds).await?;
        }
        tx.commit().await?;
        copied += rows.len() as u64;
        if rows.len() < CHUNK {
            break;
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_statements_are_keyset_pages_and_positional_inserts() {
        let c = &COPIES[0];
        assert_eq!(
            c.select_sql(),
            "SELECT id, display_name, number, address_line1, address_line2, postal_code, city, country, state, email, website, phone_number, credit_limit, last_modified_date_time FROM fin_customer WHERE id > $1 ORDER BY id LIMIT 1000"
        );
        assert!(c.insert_sql().starts_with("INSERT INTO crm_account (accountid, name,"));
        assert!(c.insert_sql().ends_with(
            "row_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ));
    }
}
