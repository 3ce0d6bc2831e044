//! Which URLs a webhook may target (SPEC R30): `http` or `https`, a host, no credentials in
//! the URL, and, when `webhooks.allowed_hosts` lists names, one of those hosts.

/// Why a URL cannot be a webhook's target.
pub fn check(url: &str, allowed_hosts: &[String]) -> Result<reqwest::Url, String> {
    const MAX_LEN: usize = 2048;
    if url.len() > MAX_LEN {
        return Err(format!("`url` is longer than {MAX_LEN} characters"));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("`url` is not an absolute URL: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!(
            "`url` must be http:// or https://, not {}://",
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("`url` must not carry credentials: sign with `secret` instead".into());
    }
    let Some(host) = parsed.host_str() else {
        return Err("`url` has no host".into());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !allowed_hosts.is_empty()
        && !allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    {
        return Err(format!(
            "`url`'s host `{host}` is not in webhooks.allowed_hosts ({})",
            allowed_hosts.join(", ")
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r30_targets_are_http_urls_of_allowed_hosts() {
        assert!(check("https://hooks.example.com/openline", &[]).is_ok());
        assert!(check("http://127.0.0.1:9000/x", &[]).is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "hooks.example.com",
            "https://user:pass@example.com/",
            "",
        ] {
            assert!(check(bad, &[]).is_err(), "{bad}");
        }
        let allowed = vec!["hooks.example.com".to_owned(), "::1".to_owned()];
        assert!(check("https://HOOKS.example.com/a", &allowed).is_ok());
        assert!(check("http://[::1]:8080/a", &allowed).is_ok());
        let refused = check("https://169.254.169.254/latest", &allowed).unwrap_err();
        assert!(refused.contains("allowed_hosts"), "{refused}");
        assert!(check(&format!("https://a.com/{}", "x".repeat(3000)), &[]).is_err());
        let longest = format!(
            "https://a.com/{}",
            "x".repeat(2048 - "https://a.com/".len())
        );
        assert!(check(&longest, &[]).is_ok(), "2048 characters is allowed");
        assert!(check(&format!("{longest}x"), &[]).is_err());
        assert!(
            check("https://user@example.com/", &[]).is_err(),
            "a user alone too"
        );
        assert!(check("https://:pass@example.com/", &[]).is_err());
    }
}
