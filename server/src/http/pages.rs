//! The one place that serves what browsers load from this server — the dashboard (`/`), the
//! agent console (`/agent`) and the presence script (`/presence.js`) — with the same
//! protective headers (SPEC R35g):
//!
//! - a Content-Security-Policy that allows only the page's own inline script and style (by
//!   hash, computed here from the page itself), scripts of this server and requests to this
//!   server, and forbids framing (`frame-ancestors 'none'`, against clickjacking): an id
//!   that slipped into markup could run nothing;
//! - `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`;
//! - `Cache-Control: no-cache`: browsers keep a copy but ask again before using it, so a new
//!   binary's files are seen at once.
//!
//! Inline `<script>` and `<style>` elements are written without attributes: those are the
//! ones the policy lets run (a unit test checks every page keeps to it).

use std::sync::OnceLock;

use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// An HTML page compiled into the binary, with its policy computed once.
#[derive(Debug)]
pub struct Page {
    html: &'static str,
    policy: OnceLock<String>,
}

impl Page {
    /// The page whose markup is `html`.
    pub const fn new(html: &'static str) -> Self {
        Self {
            html,
            policy: OnceLock::new(),
        }
    }

    /// Its markup.
    #[cfg(test)]
    pub fn html(&self) -> &'static str {
        self.html
    }

    /// Its Content-Security-Policy.
    fn policy(&self) -> &str {
        self.policy.get_or_init(|| policy(self.html))
    }

    /// The page as served: HTML with the headers of the module documentation.
    pub fn response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, self.policy()),
            ],
            protected([]),
            self.html,
        )
            .into_response()
    }
}

/// A script compiled into the binary, as served: JavaScript with the headers of the module
/// documentation (its policy allows nothing: a script runs under the policy of the page that
/// includes it) and `extra` ones.
pub fn script<const N: usize>(
    js: &'static str,
    extra: [(HeaderName, &'static str); N],
) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ],
        protected(extra),
        js,
    )
        .into_response()
}

/// The headers every page and script carries, and `extra` ones.
fn protected<const N: usize>(
    extra: [(HeaderName, &'static str); N],
) -> axum::response::AppendHeaders<impl IntoIterator<Item = (HeaderName, &'static str)>> {
    axum::response::AppendHeaders(
        [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ]
        .into_iter()
        .chain(extra),
    )
}

/// A page's Content-Security-Policy: its inline scripts and styles by hash, scripts from this
/// server, requests to this server, nothing else (no frames, no form posts, no base).
fn policy(page: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self' {}; style-src {}; connect-src 'self'; \
         img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        inline_hashes(page, "script"),
        inline_hashes(page, "style"),
    )
}

/// `'sha256-…'` of the content of every `<tag>…</tag>` (written without attributes) in `page`.
fn inline_hashes(page: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    page.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()))
        .map(|(content, _)| {
            let digest = Sha256::digest(content.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page of the server.
    fn pages() -> [(&'static str, &'static str); 2] {
        [
            ("dashboard.html", super::super::ops::DASHBOARD.html()),
            ("console.html", super::super::console::PAGE.html()),
        ]
    }

    #[test]
    fn r35g_the_policy_allows_exactly_each_pages_inline_script_and_style() {
        for (name, page) in pages() {
            let policy = policy(page);
            for tag in ["script", "style"] {
                let hashes = inline_hashes(page, tag);
                // Scripts loaded from this server (`<script src=…>`) need no hash.
                let inline = page.matches(&format!("<{tag}")).count()
                    - page.matches(&format!("<{tag} src=")).count();
                assert_eq!(
                    hashes.matches("'sha256-").count(),
                    inline,
                    "{name}: every inline {tag} is written without attributes"
                );
                assert!(policy.contains(&hashes), "{name}: {policy}");
            }
            assert!(!policy.contains("unsafe"), "{name}: {policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{name}");
        }
        // The hash of a known text, as a browser computes it.
        assert_eq!(
            inline_hashes("<script>alert(1)</script>", "script"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }
}
