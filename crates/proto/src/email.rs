//! Email addresses, validated and compared case-insensitively.

use serde::{Deserialize, Serialize};

/// Longest accepted address (RFC 5321 path limit).
pub const MAX_LEN: usize = 254;

/// A syntactically valid email address in canonical (lower-case) form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct EmailError;

impl Email {
    /// Validates an address (RFC 5322 `addr-spec`, with a dot in the domain) and lower-cases it.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.len() > MAX_LEN || !email_address::EmailAddress::is_valid(trimmed) {
            return Err(EmailError);
        }
        let (_, domain) = trimmed.rsplit_once('@').ok_or(EmailError)?;
        // Single-label and literal domains are valid RFC 5322 but never a real user's mailbox.
        if !domain.contains('.') || domain.starts_with('[') {
            return Err(EmailError);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_lower_cased() {
        assert_eq!(
            Email::parse("Alice@Example.ORG").unwrap().as_str(),
            "alice@example.org"
        );
    }

    #[test]
    fn invalid_addresses_are_refused() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.org",
            "a b@example.org",
            "alice@localhost",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad:?}");
        }
    }
}
