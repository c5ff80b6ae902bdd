//! Credentials out of sight: a Redis URL as it may be printed (`redis://user:***@host:6379/0`),
//! and a client's error text with the URL's secrets replaced.

/// `url` with the password (and a lone user-info part, which some clients take for a
/// password) replaced by `***`, and `password=` / `pass=` query values too:
/// `redis://user:***@host:6379/0`.
pub(super) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                None => format!("***{host}"),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _))
                        if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass") =>
                    {
                        format!("{k}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// `text` (a client's error message) with every secret of `url` that [`redact_url`] hides
/// replaced by `***`, in case the client quoted the URL.
pub(super) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    for secret in secrets(url) {
        if !secret.is_empty() {
            out = out.replace(secret, "***");
        }
    }
    out
}

/// The substrings of `url` that [`redact_url`] hides.
fn secrets(url: &str) -> Vec<&str> {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut found = Vec::new();
    if let Some(at) = authority.rfind('@') {
        let userinfo = &authority[..at];
        found.push(userinfo.split_once(':').map_or(userinfo, |(_, pw)| pw));
    }
    if let Some((_, query)) = tail.split_once('?') {
        for pair in query.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass") {
                    found.push(v);
                }
            }
        }
    }
    found
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
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        assert_eq!(
            scrub("cannot parse redis://u:p4ss@h: p4ss", "redis://u:p4ss@h"),
            "cannot parse redis://u:***@h: ***"
        );
    }
}
