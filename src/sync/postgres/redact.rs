//! Credentials out of sight: a PostgreSQL connection string as it may be printed, in either of
//! libpq's forms (`postgres://user:***@host/db`, `host=h user=u password=***`), and a client's
//! error text with the string's secrets replaced.

/// `conn` with every password replaced by `***`: the URL form's user-info password and
/// `password=` query values, the key/value form's `password` value (quoted or not).
///
/// In the URL form the user-info ends at the *last* `@` after the scheme, so a password that
/// holds `/`, `?` or `@` unescaped (malformed as that is) is still hidden whole; hiding too much
/// is the safe side.
pub(super) fn redact(conn: &str) -> String {
    let mut out = conn.to_owned();
    for secret in secrets(conn) {
        if !secret.is_empty() {
            out = out.replace(secret, "***");
        }
    }
    out
}

/// `text` (a client's error message) with every secret of `conn` replaced by `***`, in case
/// the client quoted it.
pub(super) fn scrub(text: &str, conn: &str) -> String {
    let mut out = text.to_owned();
    for secret in secrets(conn) {
        if !secret.is_empty() {
            out = out.replace(secret, "***");
        }
    }
    out
}

/// The substrings of `conn` that are passwords.
fn secrets(conn: &str) -> Vec<&str> {
    let url = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| conn.strip_prefix(scheme));
    match url {
        Some(rest) => {
            let mut found = Vec::new();
            let authority_end = rest.rfind('@');
            if let Some(at) = authority_end {
                // `user:password` or `user` alone: only what follows a `:` is a password.
                if let Some((_, password)) = rest[..at].split_once(':') {
                    found.push(password);
                }
            }
            let after = authority_end.map_or(rest, |at| &rest[at + 1..]);
            if let Some((_, query)) = after.split_once('?') {
                found.extend(
                    query
                        .split('&')
                        .filter_map(|pair| pair.split_once('='))
                        .filter(|(k, _)| k.eq_ignore_ascii_case("password"))
                        .map(|(_, v)| v),
                );
            }
            found
        }
        None => key_value_passwords(conn),
    }
}

/// The values of `password` in libpq's `key=value` form: up to the next space, or between
/// single quotes (where `\'` does not end the value).
fn key_value_passwords(conn: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = conn;
    while let Some(at) = rest.find("password") {
        let after = rest[at + "password".len()..].trim_start();
        rest = &rest[at + "password".len()..];
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let secret = if let Some(quoted) = value.strip_prefix('\'') {
            let bytes = quoted.as_bytes();
            let mut end = 0;
            while end < bytes.len()
                && !(bytes[end] == b'\'' && (end == 0 || bytes[end - 1] != b'\\'))
            {
                end += 1;
            }
            &quoted[..end]
        } else {
            value.split_whitespace().next().unwrap_or("")
        };
        found.push(secret);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::{redact, scrub};

    #[test]
    fn redaction() {
        for (conn, shown) in [
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgresql://u:p@ss/w@h/db", "postgresql://u:***@h/db"),
            (
                "postgres://h/db?user=u&password=pw",
                "postgres://h/db?user=u&password=***",
            ),
            ("postgres://h/db", "postgres://h/db"),
            ("postgres://postgres@h/db", "postgres://postgres@h/db"),
            ("postgres://u:@h/db", "postgres://u:@h/db"),
            (
                "host=h user=u password=pw dbname=d",
                "host=h user=u password=*** dbname=d",
            ),
            (
                "host=h password = 'p w\\'x' user=u",
                "host=h password = '***' user=u",
            ),
        ] {
            assert_eq!(redact(conn), shown, "{conn}");
        }
        assert_eq!(
            scrub("bad: p@ss/w!", "postgres://u:p@ss/w@h/db"),
            "bad: ***!"
        );
    }
}
