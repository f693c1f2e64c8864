//! Database URLs in messages: never with their password.

/// `url` with the password of its user part (if any) replaced by `***`, for printing.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn only_the_password_is_hidden() {
        assert_eq!(
            redacted_url("postgres://app:s3cr@t@db.example:5432/chat?sslmode=require"),
            "postgres://app:***@db.example:5432/chat?sslmode=require"
        );
        assert_eq!(
            redacted_url("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(redacted_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redacted_url("not a url"), "not a url");
    }
}
