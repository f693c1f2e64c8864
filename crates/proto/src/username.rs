//! Usernames: 3–32 characters of `[a-z0-9_.-]` after Unicode NFKC normalisation and
//! lower-casing, so `Alice`, `alice` and `ａｌｉｃｅ` (full-width) are the same name.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// Shortest allowed username, in characters.
pub const MIN_LEN: usize = 3;
/// Longest allowed username, in characters.
pub const MAX_LEN: usize = 32;

/// A valid username in canonical form (NFKC, lower case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username must be {MIN_LEN} to {MAX_LEN} characters long")]
    Length,
    #[error("username may only contain a-z, 0-9, '_', '.' and '-'")]
    Characters,
}

impl Username {
    /// Normalises (NFKC, then lower case) and validates a username.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let canonical: String = raw.nfkc().collect::<String>().to_lowercase();
        // NFKC can change the length, so the limits apply to the canonical form.
        let len = canonical.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(UsernameError::Length);
        }
        if !canonical
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(UsernameError::Characters);
        }
        Ok(Self(canonical))
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = UsernameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_compatibility_forms_are_the_same_name() {
        let plain = Username::parse("alice").unwrap();
        assert_eq!(Username::parse("ALICE").unwrap(), plain);
        assert_eq!(Username::parse("ａｌｉｃｅ").unwrap(), plain);
        assert_eq!(Username::parse("a.b-c_9").unwrap().as_str(), "a.b-c_9");
    }

    #[test]
    fn invalid_names_are_refused_with_a_reason() {
        let cases = [
            ("ab", UsernameError::Length, "too short"),
            (&"a".repeat(33), UsernameError::Length, "too long"),
            ("al ice", UsernameError::Characters, "space"),
            ("élodie", UsernameError::Characters, "accented letter"),
            ("bob@x", UsernameError::Characters, "at sign"),
        ];
        for (input, expected, why) in cases {
            assert_eq!(Username::parse(input), Err(expected), "{why}");
        }
    }
}
