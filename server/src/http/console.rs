//! The agent console (`GET /agent`) and the presence script (`GET /presence.js`), SPEC R33:
//! static files compiled into the binary, public like the dashboard (the page asks for a
//! token and sends it as a bearer header; the script is given one). docs/pages.md tells how
//! to use them.
//!
//! Both are served by [`super::pages`], with its protective headers (SPEC R35g).

use axum::http::HeaderName;
use axum::response::Response;

use super::pages::{self, Page};

/// The console page.
pub static PAGE: Page = Page::new(include_str!("console.html"));

/// The presence reporting script (the console includes it too).
const PRESENCE: &str = include_str!("presence.js");

/// `GET /agent`: the agent console.
pub async fn page() -> Response {
    PAGE.response()
}

/// `GET /presence.js`: the presence script, which pages of other sites may include.
pub async fn presence() -> Response {
    pages::script(
        PRESENCE,
        // Includable by pages that isolate themselves (Cross-Origin-Embedder-Policy).
        [(
            HeaderName::from_static("cross-origin-resource-policy"),
            "cross-origin",
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r33_data_never_goes_into_markup() {
        for (name, text) in [("console.html", PAGE.html()), ("presence.js", PRESENCE)] {
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
