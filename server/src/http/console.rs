//! The agent console (`GET /agent`) and the presence script (`GET /presence.js`), SPEC R33:
//! static files compiled into the binary, public like the dashboard (the page asks for a
//! token and sends it as a bearer header; the script is given one). docs/pages.md tells how
//! to use them.
//!
//! The page runs under a Content-Security-Policy that allows only its own inline script and
//! style (by hash, computed here from the page itself), scripts of this server
//! (`/presence.js`) and requests to this server: an id that slipped into markup could run
//! nothing.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The console page.
const PAGE: &str = include_str!("console.html");

/// The presence reporting script (the console includes it too).
const PRESENCE: &str = include_str!("presence.js");

/// Browsers keep a copy but ask again before using it: a new binary's files are seen at once.
const NO_CACHE: &str = "no-cache";

static PAGE_POLICY: LazyLock<String> = LazyLock::new(|| policy(PAGE));

/// `GET /agent`: the agent console.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, NO_CACHE),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY.as_str()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /presence.js`: the presence script, which pages of other sites may include.
pub async fn presence() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, NO_CACHE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Includable by pages that isolate themselves (Cross-Origin-Embedder-Policy).
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        PRESENCE,
    )
        .into_response()
}

/// The page's Content-Security-Policy: its inline scripts and styles by hash, scripts from
/// this server, requests to this server, nothing else (no frames, no form posts, no base).
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

    #[test]
    fn r33_the_policy_allows_exactly_the_pages_inline_script_and_style() {
        let policy = policy(PAGE);
        for tag in ["script", "style"] {
            let hashes = inline_hashes(PAGE, tag);
            assert_eq!(hashes.matches("'sha256-").count(), 1, "one inline {tag}");
            assert!(policy.contains(&hashes), "{policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        // The hash of a known text, as a browser computes it.
        assert_eq!(
            inline_hashes("<script>alert(1)</script>", "script"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }

    #[test]
    fn r33_data_never_goes_into_markup() {
        for (name, text) in [("console.html", PAGE), ("presence.js", PRESENCE)] {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
            ] {
                assert!(!text.contains(sink), "{name} uses {sink}");
            }
        }
    }
}
