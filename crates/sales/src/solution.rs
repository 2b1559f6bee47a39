//! Solutions (pure plan): what importing the Kontor integration solution installs.
//!
//! Import is idempotent and re-import upgrades: the plan is a list of "ensure" steps computed from
//! the installed version (if any) and the requested one; applying it twice changes nothing.

use std::fmt;

use crate::security::{INTEGRATION_ADMINISTRATOR, INTEGRATION_USER, role_privileges};

/// The unique name of the integration solution.
pub const KONTOR_SOLUTION: &str = "KontorIntegration";

/// Versions of the integration solution this build ships, oldest first.
pub const AVAILABLE_VERSIONS: &[Version] = &[Version([1, 0, 0, 0])];

/// A solution version `major.minor.build.revision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub [u32; 4]);

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        if parts.is_empty() || parts.len() > 4 {
            return None;
        }
        let mut v = [0u32; 4];
        for (i, p) in parts.iter().enumerate() {
            v[i] = p.parse().ok()?;
        }
        Some(Version(v))
    }
    pub fn latest() -> Version {
        AVAILABLE_VERSIONS[AVAILABLE_VERSIONS.len() - 1]
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// One idempotent step of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the role if missing and set its privileges to exactly this list.
    EnsureRole { name: String, privileges: Vec<String> },
    /// Record the installed version (which also exposes the solution's columns and actions).
    RecordVersion(Version),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolutionError {
    #[error(
        "The solution '{0}' is not available for import. Only '{KONTOR_SOLUTION}' can be imported."
    )]
    UnknownSolution(String),
    #[error("'{0}' is not a valid solution version (expected major.minor.build.revision).")]
    BadVersion(String),
    #[error("Version {0} of '{KONTOR_SOLUTION}' is not available; the latest is {1}.")]
    UnavailableVersion(Version, Version),
    #[error(
        "The solution is already installed at version {installed}, which is newer than {requested}. Downgrades are not supported."
    )]
    Downgrade { installed: Version, requested: Version },
}

/// What importing `name` at `version` (default: the latest) does, given the installed version.
pub fn plan(
    name: &str,
    version: Option<&str>,
    installed: Option<Version>,
) -> Result<Vec<Step>, SolutionError> {
    if name != KONTOR_SOLUTION {
        return Err(SolutionError::UnknownSolution(name.to_owned()));
    }
    let requested = match version {
        None => Version::latest(),
        Some(v) => Version::parse(v).ok_or_else(|| SolutionError::BadVersion(v.to_owned()))?,
    };
    if !AVAILABLE_VERSIONS.contains(&requested) {
        return Err(SolutionError::UnavailableVersion(requested, Version::latest()));
    }
    if let Some(installed) = installed
        && installed > requested
    {
        return Err(SolutionError::Downgrade { installed, requested });
    }
    let mut steps = vec![];
    for role in [INTEGRATION_ADMINISTRATOR, INTEGRATION_USER] {
        steps.push(Step::EnsureRole { name: role.to_owned(), privileges: role_privileges(role) });
    }
    steps.push(Step::RecordVersion(requested));
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_import_creates_both_integration_roles_and_records_the_version() {
        let steps = plan(KONTOR_SOLUTION, Some("1.0.0.0"), None).unwrap();
        let roles: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::EnsureRole { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(roles, [INTEGRATION_ADMINISTRATOR, INTEGRATION_USER]);
        assert_eq!(steps.last(), Some(&Step::RecordVersion(Version([1, 0, 0, 0]))));
    }

    #[test]
    fn a_reimport_of_the_same_version_plans_the_same_steps() {
        let v = Version([1, 0, 0, 0]);
        assert_eq!(plan(KONTOR_SOLUTION, None, Some(v)), plan(KONTOR_SOLUTION, None, None));
    }

    #[test]
    fn unknown_solutions_versions_and_downgrades_are_refused() {
        assert!(matches!(plan("Other", None, None), Err(SolutionError::UnknownSolution(_))));
        assert!(matches!(
            plan(KONTOR_SOLUTION, Some("x"), None),
            Err(SolutionError::BadVersion(_))
        ));
        assert!(matches!(
            plan(KONTOR_SOLUTION, Some("9.0"), None),
            Err(SolutionError::UnavailableVersion(..))
        ));
        assert!(matches!(
            plan(KONTOR_SOLUTION, Some("1.0.0.0"), Some(Version([2, 0, 0, 0]))),
            Err(SolutionError::Downgrade { .. })
        ));
    }
}
