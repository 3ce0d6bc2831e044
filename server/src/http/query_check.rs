//! Unknown query parameters are refused, on every endpoint, in one place (SPEC R35b): a
//! route layer compares the names in the query string with the query parameters the
//! OpenAPI document declares for that operation, so the document says exactly what each
//! endpoint takes and a typo (`?chanel=web`) is a 400 naming it, never silently ignored.
//! The pages (static files for browsers) are left alone: browsers and caches add query
//! strings of their own to them.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi as _;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::{Operation, ParameterIn};

use super::error::AppError;

/// The pages, which take any query string.
const PAGES: [&str; 3] = ["/", "/agent", "/presence.js"];

/// The query parameters each `(method, route)` declares in the OpenAPI document.
type Declared = HashMap<(Method, String), BTreeSet<String>>;

fn declared() -> &'static Declared {
    static DECLARED: OnceLock<Declared> = OnceLock::new();
    DECLARED.get_or_init(|| {
        let mut declared = Declared::new();
        for (path, item) in super::openapi::ApiDoc::openapi().paths.paths {
            let operations = [
                (Method::GET, item.get),
                (Method::PUT, item.put),
                (Method::POST, item.post),
                (Method::DELETE, item.delete),
                (Method::PATCH, item.patch),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    declared.insert((method, path.clone()), query_names(&operation));
                }
            }
        }
        declared
    })
}

fn query_names(operation: &Operation) -> BTreeSet<String> {
    operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| match parameter {
            RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query => {
                Some(parameter.name.clone())
            }
            _ => None,
        })
        .collect()
}

/// The route layer: a request whose query string names a parameter its operation does not
/// declare gets 400 `invalid_request` naming it (and what the endpoint takes), before the
/// handler sees it.
pub async fn refuse_unknown(request: Request, next: Next) -> Response {
    match check(&request) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

fn check(request: &Request) -> Result<(), AppError> {
    let (Some(_), Some(route)) = (
        request.uri().query(),
        request.extensions().get::<MatchedPath>(),
    ) else {
        return Ok(());
    };
    let route = route.as_str();
    if PAGES.contains(&route) {
        return Ok(());
    }
    let method = if request.method() == Method::HEAD {
        Method::GET
    } else {
        request.method().clone()
    };
    let none = BTreeSet::new();
    let known = declared()
        .get(&(method.clone(), route.to_owned()))
        .unwrap_or(&none);
    let unknown: BTreeSet<String> = names_in(request.uri())
        .into_iter()
        .filter(|name| !known.contains(name))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let quoted = |names: &mut dyn Iterator<Item = &String>| {
        names
            .map(|name| format!("`{}`", name.chars().take(100).collect::<String>()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let takes = if known.is_empty() {
        "no query parameters".to_owned()
    } else {
        quoted(&mut known.iter())
    };
    let plural = if unknown.len() == 1 { "" } else { "s" };
    Err(AppError::invalid(format!(
        "unknown query parameter{plural} {}: {method} {route} takes {takes}",
        quoted(&mut unknown.iter())
    )))
}

/// The parameter names of a URI's query string, percent-decoded (`a=1&b&c=` → a, b, c); empty
/// pieces (`&&`, a lone `?`) name nothing.
fn names_in(uri: &axum::http::Uri) -> Vec<String> {
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|axum::extract::Query(pairs)| pairs)
        .unwrap_or_else(|_| vec![(uri.query().unwrap_or_default().to_owned(), String::new())]);
    pairs
        .into_iter()
        .filter(|(name, value)| !(name.is_empty() && value.is_empty()))
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r35b_names_are_decoded_and_empty_pieces_ignored() {
        let names = |uri: &str| names_in(&uri.parse().expect("a URI"));
        assert_eq!(names("/x?a=1&b&c=&&"), ["a", "b", "c"]);
        assert_eq!(names("/x?ag%65nt=x"), ["agent"]);
        assert_eq!(names("/x?=x"), [""]);
    }

    #[test]
    fn r35b_the_document_declares_the_query_parameters_of_the_endpoints_that_take_some() {
        let declared = declared();
        let of = |route: &str| declared.get(&(Method::GET, route.to_owned())).cloned();
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            of("/v1/events"),
            Some(names(&["after", "agent", "channel"]))
        );
        assert_eq!(of("/v1/agents"), Some(BTreeSet::new()));
        assert!(of("/v1/conversations").is_some_and(|q| q.contains("limit")));
    }
}
