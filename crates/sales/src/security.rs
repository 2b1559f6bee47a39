//! Security roles and privileges (pure).
//!
//! A privilege is `prv<Op><SchemaName>` (`prvCreateAccount`). Roles are rows in `roles`; their
//! privileges are stored in `crm_roleprivileges`. Built-in roles and the integration roles get the
//! privilege lists defined here.

use std::collections::BTreeSet;

use crate::model::{TableInfo, sales_model};

pub const SYSTEM_ADMINISTRATOR: &str = "System Administrator";
pub const SOLUTION_CUSTOMIZER: &str = "Solution Customizer";
pub const SALESPERSON: &str = "Salesperson";
pub const INTEGRATION_ADMINISTRATOR: &str = "Kontor Integration Administrator";
pub const INTEGRATION_USER: &str = "Kontor Integration User";

/// The operation a privilege grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Create,
    Read,
    Write,
    Delete,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Create, Op::Read, Op::Write, Op::Delete];
    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "Create",
            Op::Read => "Read",
            Op::Write => "Write",
            Op::Delete => "Delete",
        }
    }
}

/// `prvCreateAccount`.
pub fn privilege_name(op: Op, table: &TableInfo) -> String {
    format!("prv{}{}", op.as_str(), table.schema_name)
}

/// Deterministic id of one of Kontor's roles, so every database names them alike.
pub fn role_id_for(name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("kontor.role.{name}").as_bytes())
}

/// A stable id for a privilege name (Dataverse shows privilege ids in its messages).
pub fn privilege_id(name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("kontor.privilege.{name}").as_bytes())
}

/// What a caller holds: its roles (by name) and the union of their privileges.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Grants {
    pub roles: BTreeSet<String>,
    pub privileges: BTreeSet<String>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("roles", &self.roles)
            .field("privileges", &self.privileges.len())
            .finish()
    }
}

/// A denied privilege check, with what the Dataverse message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub privilege: String,
    pub logical_name: String,
    pub object_type_code: i32,
    pub role_count: usize,
    pub privilege_count: usize,
}

impl Denied {
    /// The Dataverse message of this denial for `user`.
    pub fn message(&self, user: uuid::Uuid) -> String {
        let pid = privilege_id(&self.privilege);
        format!(
            "Principal user (Id={user}, type=8, roleCount={}, privilegeCount={}, accessMode=0), is missing {} privilege (Id={pid}) on OTC={} for entity '{}'. context.Caller={user}",
            self.role_count,
            self.privilege_count,
            self.privilege,
            self.object_type_code,
            self.logical_name
        )
    }
}

impl Grants {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    /// Checks `op` on `table`.
    pub fn check(&self, op: Op, table: &TableInfo) -> Result<(), Denied> {
        let privilege = privilege_name(op, table);
        if self.privileges.contains(&privilege) {
            return Ok(());
        }
        Err(Denied {
            privilege,
            logical_name: table.logical_name.clone(),
            object_type_code: table.object_type_code,
            role_count: self.roles.len(),
            privilege_count: self.privileges.len(),
        })
    }
}

fn all_tables() -> impl Iterator<Item = &'static TableInfo> {
    sales_model().tables.iter()
}

fn privileges(ops: &[Op], tables: &[&str]) -> Vec<String> {
    let mut out = vec![];
    for t in all_tables().filter(|t| tables.contains(&t.logical_name.as_str())) {
        for op in ops {
            out.push(privilege_name(*op, t));
        }
    }
    out
}

/// The tables the integration synchronizes.
pub const INTEGRATION_TABLES: &[&str] = &[
    "account",
    "contact",
    "transactioncurrency",
    "uomschedule",
    "uom",
    "product",
    "pricelevel",
    "productpricelevel",
    "salesorder",
    "salesorderdetail",
    "invoice",
    "invoicedetail",
];
const DIRECTORY_TABLES: &[&str] = &["systemuser", "businessunit", "team", "role"];

/// The privileges of a role Kontor defines (built-in or installed by the solution).
pub fn role_privileges(role: &str) -> Vec<String> {
    let every: Vec<&str> = all_tables().map(|t| t.logical_name.as_str()).collect();
    let mut p = match role {
        SYSTEM_ADMINISTRATOR => privileges(&Op::ALL, &every),
        SOLUTION_CUSTOMIZER => privileges(&[Op::Read], &every),
        SALESPERSON => {
            let mut p =
                privileges(&Op::ALL, &["account", "contact", "salesorder", "salesorderdetail"]);
            p.extend(privileges(
                &[Op::Read],
                &[
                    "systemuser",
                    "businessunit",
                    "team",
                    "transactioncurrency",
                    "uomschedule",
                    "uom",
                    "product",
                    "pricelevel",
                    "productpricelevel",
                    "invoice",
                    "invoicedetail",
                ],
            ));
            p
        }
        INTEGRATION_ADMINISTRATOR => {
            let mut p = privileges(&Op::ALL, INTEGRATION_TABLES);
            p.extend(privileges(&Op::ALL, DIRECTORY_TABLES));
            p.push(KONTOR_CONNECTION_PRIVILEGE.to_owned());
            p
        }
        INTEGRATION_USER => {
            let mut p = privileges(&Op::ALL, INTEGRATION_TABLES);
            p.extend(privileges(&[Op::Read], DIRECTORY_TABLES));
            p
        }
        _ => vec![],
    };
    if role == SYSTEM_ADMINISTRATOR {
        p.push(KONTOR_CONNECTION_PRIVILEGE.to_owned());
    }
    p.sort();
    p.dedup();
    p
}

/// Privilege to read and change the Financials connection of the integration.
pub const KONTOR_CONNECTION_PRIVILEGE: &str = "prvWriteKontorFinancialsConnection";

/// The built-in roles created on an empty database.
pub const BUILT_IN_ROLES: &[&str] = &[SYSTEM_ADMINISTRATOR, SOLUTION_CUSTOMIZER, SALESPERSON];

/// Importing a solution needs both System Administrator and Solution Customizer (the integration
/// setup's rule).
pub fn may_import_solution(grants: &Grants) -> bool {
    grants.has_role(SYSTEM_ADMINISTRATOR) && grants.has_role(SOLUTION_CUSTOMIZER)
}

/// Setting user credentials and roles is an administrator's job.
pub fn may_administer_users(grants: &Grants) -> bool {
    grants.has_role(SYSTEM_ADMINISTRATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(role: &str) -> Grants {
        Grants {
            roles: [role.to_owned()].into(),
            privileges: role_privileges(role).into_iter().collect(),
        }
    }
    fn table(name: &str) -> &'static TableInfo {
        sales_model().by_logical_name(name).unwrap().1
    }

    #[test]
    fn a_system_administrator_may_do_anything_on_every_table() {
        let g = grants(SYSTEM_ADMINISTRATOR);
        for t in all_tables() {
            for op in Op::ALL {
                assert!(g.check(op, t).is_ok(), "{op:?} {}", t.logical_name);
            }
        }
    }

    #[test]
    fn a_salesperson_may_not_create_products_and_the_denial_names_the_privilege() {
        let g = grants(SALESPERSON);
        assert!(g.check(Op::Create, table("account")).is_ok());
        let d = g.check(Op::Create, table("product")).unwrap_err();
        assert_eq!(d.privilege, "prvCreateProduct");
        assert_eq!(d.object_type_code, 1024);
    }

    #[test]
    fn solution_import_needs_both_roles() {
        let mut g = grants(SYSTEM_ADMINISTRATOR);
        assert!(!may_import_solution(&g));
        g.roles.insert(SOLUTION_CUSTOMIZER.to_owned());
        assert!(may_import_solution(&g));
        assert!(!may_import_solution(&grants(SOLUTION_CUSTOMIZER)));
    }

    #[test]
    fn the_privileges_of_every_kontor_role_are_as_reviewed() {
        let mut out = String::new();
        for role in [
            SYSTEM_ADMINISTRATOR,
            SOLUTION_CUSTOMIZER,
            SALESPERSON,
            INTEGRATION_ADMINISTRATOR,
            INTEGRATION_USER,
        ] {
            out.push_str(&format!("{role}:\n"));
            for p in role_privileges(role) {
                out.push_str(&format!("  {p}\n"));
            }
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn the_integration_user_reads_users_but_does_not_change_them() {
        let g = grants(INTEGRATION_USER);
        assert!(g.check(Op::Read, table("systemuser")).is_ok());
        assert!(g.check(Op::Write, table("systemuser")).is_err());
        assert!(g.check(Op::Write, table("salesorder")).is_ok());
    }
}
