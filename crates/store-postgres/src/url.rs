//! Database URLs in messages: never with their password.

/// `url` with the password of its user part and any `password=` query parameter replaced by
/// `***`, for printing.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user part ends at the last `@`: a password may hold `/`, `?` or `@` unencoded.
    let (user_info, tail) = match rest.rsplit_once('@') {
        Some((user_info, tail)) => (Some(user_info), tail),
        None => (None, rest),
    };
    let (host, query) = match tail.split_once('?') {
        Some((host, query)) => (host, Some(query)),
        None => (tail, None),
    };
    let base = match user_info {
        Some(user_info) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => host.to_owned(),
    };
    let query = query.map(|query| {
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) => format!("{scheme}://{base}?{query}"),
        None => format!("{scheme}://{base}"),
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
        assert_eq!(
            redacted_url("postgres://app:a/b?c@db:5432/chat"),
            "postgres://app:***@db:5432/chat"
        );
        assert_eq!(
            redacted_url("postgres://db/chat?user=app&password=s3cret&sslmode=disable"),
            "postgres://db/chat?user=app&password=***&sslmode=disable"
        );
    }
}
