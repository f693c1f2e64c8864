//! The most common breached passwords, refused for a new password: by the server where it
//! still takes passwords, and by the clients for OPAQUE (the server never sees those).
//!
//! One list for all: `web/app/js/password/common-passwords.json`, which the browser imports
//! (as part of the embedded app) and the server and the CLI embed here (no network at run
//! time). Source: the
//! list Django ships as `django/contrib/auth/common-passwords.txt.gz` (Django 5.2.19 wheel from
//! PyPI, BSD licence), itself the 20 000 most common passwords of Royce Williams' list
//! (lower case, de-duplicated), ranked by frequency. Only the 1 780 entries of at least 10
//! characters are kept: shorter ones are refused by the length rule already. To rebuild:
//! `zcat common-passwords.txt.gz | awk 'length($0)>=10'`, as a JSON array of strings.

use std::collections::HashSet;
use std::sync::OnceLock;

const LIST: &str = include_str!("../../../../web/app/js/password/common-passwords.json");

fn list() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    // The file is checked by the test below; a broken one would refuse nothing.
    SET.get_or_init(|| {
        serde_json::from_str::<Vec<String>>(LIST)
            .unwrap_or_default()
            .into_iter()
            .collect()
    })
}

/// Whether a password is on the list (compared in lower case, surrounding spaces ignored).
pub fn is_common(password: &str) -> bool {
    list().contains(password.trim().to_lowercase().as_str())
}

/// The refusal message for a common password.
pub const REFUSAL: &str =
    "this password is one of the most common breached passwords; choose another";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_the_usual_suspects_only() {
        assert!(list().len() > 1000);
        assert!(is_common("password123"));
        assert!(is_common("1234567890"));
        assert!(is_common("  PassWord123 "));
        assert!(!is_common("correct horse battery"));
        assert!(!is_common("an even better password"));
    }
}
