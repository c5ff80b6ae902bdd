//! Credentials out of sight: a connector's URL as it may be printed
//! (`redis://user:***@host:6379/0`, `amqp://user:***@host:5672/vhost`), and a client's error
//! text with the URL's secrets replaced. Shared by the Redis Streams and RabbitMQ connectors.

/// `url` with the password (and a lone user-info part, which some clients take for a
/// password) replaced by `***`, and `password=` / `pass=` query values too:
/// `redis://user:***@host:6379/0`.
///
/// The user-info is everything before the *last* `@` after the scheme, not only before the
/// first `/`, `?` or `#`: a password may hold those characters unescaped (base64 passwords hold
/// `/`), and such a URL, malformed as it is, must not print its password in the error that
/// refuses it. An `@` later in a path or query makes this hide more than the password; hiding
/// too much is the safe side.
pub(crate) fn redact_url(url: &str) -> String {
    let parts = Parts::of(url);
    let userinfo = match (parts.user, parts.password) {
        (_, None) => "",
        (Some(user), Some(_)) => &format!("{user}:***@"),
        (None, Some(_)) => "***@",
    };
    let tail = match parts.tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if is_password_key(k) => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => parts.tail.to_owned(),
    };
    format!("{}{userinfo}{}{tail}", parts.scheme, parts.host)
}

/// `text` (a client's error message) with every secret of `url` that [`redact_url`] hides
/// replaced by `***`, in case the client quoted the URL.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    for secret in secrets(url) {
        if !secret.is_empty() {
            out = out.replace(secret, "***");
        }
    }
    out
}

/// A URL cut where redaction needs it: `scheme` (with its `://`), the user-info split into
/// `user` and `password` (a lone user-info part is taken as a password, as some clients do),
/// `host` (with port) and `tail` (path, query, fragment).
struct Parts<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: &'a str,
    tail: &'a str,
}

impl<'a> Parts<'a> {
    /// The user-info is everything before the *last* `@` after the scheme (see [`redact_url`]).
    fn of(url: &'a str) -> Self {
        let (scheme, rest) = match url.find("://") {
            Some(i) => (&url[..i + 3], &url[i + 3..]),
            None => ("", url),
        };
        let (user, password, rest) = match rest.rfind('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, pw)) if !user.contains(['/', '?', '#']) => (Some(user), pw),
                    _ => (None, userinfo),
                };
                (user, Some(password), &rest[at + 1..])
            }
            None => (None, None, rest),
        };
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, tail) = rest.split_at(host_end);
        Parts {
            scheme,
            user,
            password,
            host,
            tail,
        }
    }
}

/// A query key the redis crate reads as the password, compared after percent-decoding as the
/// redis crate does (`pa%73s` is `pass`).
fn is_password_key(key: &str) -> bool {
    let mut decoded = Vec::with_capacity(key.len());
    let bytes = key.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    decoded.eq_ignore_ascii_case(b"password") || decoded.eq_ignore_ascii_case(b"pass")
}

/// The substrings of `url` that [`redact_url`] hides.
fn secrets(url: &str) -> Vec<&str> {
    let parts = Parts::of(url);
    let query = parts.tail.split_once('?').map_or("", |(_, query)| query);
    let from_query = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| is_password_key(k))
        .map(|(_, v)| v);
    parts.password.into_iter().chain(from_query).collect()
}

#[cfg(test)]
mod tests {
    use super::{redact_url, scrub};

    #[test]
    fn redaction() {
        for (url, shown) in [
            (
                "redis://user:pw@host:6379/0",
                "redis://user:***@host:6379/0",
            ),
            ("rediss://:pw@host", "rediss://:***@host"),
            ("redis://pw@host", "redis://***@host"),
            ("redis://host:6379", "redis://host:6379"),
            (
                "redis+unix:///tmp/r.sock?db=1&pass=pw",
                "redis+unix:///tmp/r.sock?db=1&pass=***",
            ),
            ("redis://u:p@ss@host/1", "redis://u:***@host/1"),
            // Unescaped `/`, `?`, `#` in a password (base64 holds `/`): still hidden.
            ("redis://app:pa/ss@h/0", "redis://app:***@h/0"),
            ("redis://app:a?b#c@h:6379", "redis://app:***@h:6379"),
            ("redis://:x/y?z@h", "redis://:***@h"),
            // Percent-escaped query keys are read as the redis crate reads them.
            ("redis+unix:///s?pa%73s=pw", "redis+unix:///s?pa%73s=***"),
            (
                "redis://h/0?PassWord=pw&db=1",
                "redis://h/0?PassWord=***&db=1",
            ),
            // AMQP URLs (the RabbitMQ connector): the vhost is the path.
            (
                "amqp://app:s3cret@127.0.0.1:5672/%2f",
                "amqp://app:***@127.0.0.1:5672/%2f",
            ),
            ("amqps://u:p/w@h/vh", "amqps://u:***@h/vh"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        assert_eq!(
            scrub("cannot parse redis://u:p4ss@h: p4ss", "redis://u:p4ss@h"),
            "cannot parse redis://u:***@h: ***"
        );
        assert_eq!(
            scrub("bad url: pa/ss", "redis://app:pa/ss@h/0"),
            "bad url: ***"
        );
    }
}
