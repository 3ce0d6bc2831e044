//! `GET /v1/openapi.json` (API.md "OpenAPI", SPEC R31): the OpenAPI 3.1 document of the whole
//! API, generated from the code with utoipa and built once.
//!
//! Every handler of [`super::app`] carries a `#[utoipa::path]` attribute (the handlers of
//! `ops.rs` have theirs in [`ops_paths`] below) and is listed in [`ApiDoc`]; request and
//! response bodies derive `utoipa::ToSchema`. The errors every operation of a kind can meet
//! are added here, once, by [`StandardErrors`]: the gate's 401, 403, 429 and 503 on every
//! authenticated operation, 400 on every operation (an unknown query parameter, SPEC R35b), 408, 413
//! and 415 on every operation that reads a body, 414 and 431 from the HTTP layer everywhere.
//! The errors particular to one operation (404, 409) are in its own attribute.
//!
//! Adding an endpoint: annotate its handler with `#[utoipa::path(...)]` (method, path as in
//! `app()`, a unique `operation_id`, params, `request_body(content = T, content_type =
//! "application/json")`, its success and particular error responses), derive `ToSchema` on its
//! bodies and list the handler in [`ApiDoc`]'s `paths(...)`. The acceptance test
//! `tests/tests/openapi.rs` fails while a route of `app()` is missing here.

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::error::ErrorBody;

/// The document: every path, the bearer scheme, the standard errors.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "openline HTTP API",
        description = "The HTTP contract of openline, a presence-aware conversation router \
                       (API.md). Every non-2xx answer has the body \
                       `{\"error\": {\"code\", \"message\"}}`. Every request except \
                       `/healthz`, `/readyz`, the pages and this document authenticates with \
                       `Authorization: Bearer <token or JWT>`."
    ),
    paths(
        super::agents::list,
        super::agents::put,
        super::agents::get,
        super::agents::availability,
        super::agents::conversations,
        super::overview::availability,
        super::overview::stats,
        super::agents::put_group,
        super::agents::get_group,
        super::signals::post,
        super::channels::list,
        super::channels::put,
        super::channels::patch,
        super::channels::get,
        super::channels::queue,
        super::conversations::open,
        super::conversation_list::list,
        super::conversations::get,
        super::conversations::message,
        super::conversations::accept,
        super::conversations::decline,
        super::conversations::transfer,
        super::conversations::close,
        ops_paths::events,
        super::clock::get,
        super::clock::advance,
        ops_paths::plugins,
        super::tokens::whoami,
        super::tokens::list,
        super::tokens::create,
        super::tokens::revoke,
        super::audit::list,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::get,
        super::webhooks::delete,
        super::webhooks::deliveries,
        openapi_json,
        ops_paths::agent_console,
        ops_paths::presence_js,
        ops_paths::dashboard,
        ops_paths::healthz,
        ops_paths::readyz,
        ops_paths::metrics,
    ),
    components(schemas(ErrorBody, IdSchema)),
    security(("bearer" = [])),
    modifiers(&Bearer, &OptionalBodies, &StandardErrors),
    tags(
        (name = "agents", description = "Agents and user groups"),
        (name = "signals", description = "What presence sources learn from"),
        (name = "channels", description = "Channels and their queues"),
        (name = "conversations", description = "Conversations and what agents do with them"),
        (name = "events", description = "The event stream"),
        (name = "webhooks", description = "Webhook subscriptions and their deliveries"),
        (name = "clock", description = "The server's clock"),
        (name = "auth", description = "Tokens and the caller"),
        (name = "operations", description = "Health, metrics, plugins, pages, this document"),
    )
)]
pub struct ApiDoc;

/// The document as JSON text, built on first use.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|error| {
            // Serializing plain data cannot fail; answer with an error document if it did.
            tracing::error!(%error, "cannot serialize the OpenAPI document");
            String::from("{}")
        })
    })
}

/// `GET /v1/openapi.json`: this document (no authentication).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
        content_type = "application/json", body = Object)),
)]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}

/// The `bearer` security scheme: an API token or a JWT (SPEC R25).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`openline token create`, `POST /v1/tokens`) or a JWT \
                         signed with the configured key",
                    ))
                    .build(),
            ),
        );
    }
}

/// A request body written `request_body(content = Option<T>, …)` may be absent (e.g. closing
/// a conversation): utoipa writes it as "T or null" with `required` unset, but the API reads
/// an absent body, not a JSON `null`. Here it becomes T, not required.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                    continue;
                };
                if body.required.is_some() {
                    continue;
                }
                for content in body.content.values_mut() {
                    let RefOr::T(content) = content else {
                        continue;
                    };
                    if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
                        let not_null: Vec<RefOr<Schema>> = one_of
                            .items
                            .iter()
                            .filter(|item| !is_null_schema(item))
                            .cloned()
                            .collect();
                        if let [only] = not_null.as_slice() {
                            content.schema = Some(only.clone());
                        }
                    }
                }
            }
        }
    }
}

/// Whether `schema` is `{"type": "null"}`.
fn is_null_schema(schema: &RefOr<Schema>) -> bool {
    serde_json::to_value(schema).is_ok_and(|value| value == serde_json::json!({"type": "null"}))
}

/// The errors every operation of a kind can meet (see the module's documentation), as shared
/// responses in `components.responses`.
struct StandardErrors;

/// Name in `components.responses`, status, description.
const STANDARD_ERRORS: [(&str, u16, &str); 10] = [
    (
        "InvalidRequest",
        400,
        "`invalid_request`: a parameter or the body is malformed or has a bad value; the \
         message names it",
    ),
    ("Unauthorized", 401, "`unauthorized`: no valid credential"),
    (
        "Forbidden",
        403,
        "`forbidden`: the caller's role (or agent) may not do this, or a change comes from \
         another site's page",
    ),
    (
        "RequestTimeout",
        408,
        "`request_timeout`: the body did not arrive in time",
    ),
    (
        "PayloadTooLarge",
        413,
        "`payload_too_large`: the body is larger than 1 MiB",
    ),
    (
        "UriTooLong",
        414,
        "`uri_too_long`: refused by the HTTP layer",
    ),
    (
        "UnsupportedMediaType",
        415,
        "`unsupported_media_type`: a body without `Content-Type: application/json`",
    ),
    (
        "RequestHeaderFieldsTooLarge",
        431,
        "`request_header_fields_too_large`: refused by the HTTP layer",
    ),
    (
        "RateLimited",
        429,
        "`rate_limited`: more requests than the caller's rate; retry after a second",
    ),
    (
        "Unavailable",
        503,
        "`unavailable`: the store cannot be reached right now; retry",
    ),
];

impl StandardErrors {
    /// The statuses `operation` can answer besides its own.
    fn statuses(operation: &Operation) -> Vec<u16> {
        let public = operation
            .security
            .as_ref()
            .is_some_and(|requirements| requirements.iter().any(is_empty_requirement));
        let has_body = operation.request_body.is_some();
        // 400 everywhere: every operation refuses a query parameter it does not know.
        let mut statuses = vec![400, 414, 431];
        if !public {
            statuses.extend([401, 403, 429, 503]);
        }
        if has_body {
            statuses.extend([408, 413, 415]);
        }
        statuses
    }
}

/// Whether a security requirement is the empty one (`{}`: no authentication).
fn is_empty_requirement(requirement: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(requirement)
        .ok()
        .and_then(|value| value.as_object().map(serde_json::Map::is_empty))
        .unwrap_or(false)
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for status in Self::statuses(operation) {
                    let Some((name, _, _)) =
                        STANDARD_ERRORS.iter().find(|(_, code, _)| *code == status)
                    else {
                        continue;
                    };
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, _, description) in STANDARD_ERRORS {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                        .build(),
                )
                .build();
            components
                .responses
                .insert(name.to_owned(), RefOr::T(response));
        }
    }
}

/// `Id` of the document: an agent's, channel's, group's or conversation's id (the rules of
/// `openline_core::id::check`: 1 to 128 characters, not only white space, no control
/// character).
#[derive(Debug, Clone, Copy)]
pub struct IdSchema;

/// No control character (Unicode Cc), and at least one that is not white space.
const ID_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

impl PartialSchema for IdSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An id: 1 to 128 characters, not only white space, no control character",
            ))
            .min_length(Some(1))
            .max_length(Some(openline_core::id::MAX_ID_LEN))
            .pattern(Some(ID_PATTERN))
            .into()
    }
}

impl ToSchema for IdSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// A schema of strings, one of `values`.
fn string_enum(
    description: &str,
    values: impl IntoIterator<Item = serde_json::Value>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

/// A named schema for a string enum of another module or crate: the values are its variants
/// as serde writes them, listed in a `match` too, so that a new variant does not compile until
/// it is listed here.
macro_rules! string_enum_schema {
    (
        $(#[$doc:meta])*
        $schema:ident = $name:literal,
        $description:literal,
        $ty:ident { $($variant:ident),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $schema;

        impl $schema {
            /// Every variant, in declaration order.
            pub fn all() -> Vec<$ty> {
                let _exhaustive = |value: $ty| match value {
                    $($ty::$variant)|+ => (),
                };
                vec![$($ty::$variant),+]
            }
        }

        impl PartialSchema for $schema {
            fn schema() -> RefOr<Schema> {
                string_enum(
                    $description,
                    Self::all()
                        .into_iter()
                        .map(|value| serde_json::to_value(value).unwrap_or_default()),
                )
            }
        }

        impl ToSchema for $schema {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

use crate::config::ClockMode;
use openline_core::verdict::VerdictKind;
use openline_core::{Author, ConversationState, HistoryEvent};

string_enum_schema!(
    /// `ConversationState` of the document: `queued`, `offered`, `accepted`, `closed`.
    ConversationStateSchema = "ConversationState",
    "A conversation's state",
    ConversationState { Queued, Offered, Accepted, Closed }
);

string_enum_schema!(
    /// `HistoryEvent` of the document.
    HistoryEventSchema = "HistoryEvent",
    "What happened to a conversation",
    HistoryEvent {
        Queued,
        Offered,
        OfferWithdrawn,
        OfferExpired,
        Declined,
        Accepted,
        Requeued,
        Transferred,
        Closed,
    }
);

string_enum_schema!(
    /// `Author` of the document: `customer` or `agent`.
    AuthorSchema = "Author",
    "Who wrote a message",
    Author { Customer, Agent }
);

string_enum_schema!(
    /// `VerdictKind` of the document.
    VerdictKindSchema = "VerdictKind",
    "One source's opinion of an agent, strongest first",
    VerdictKind { Block, Grant, Online, Offline, Abstain }
);

string_enum_schema!(
    /// `ClockMode` of the document: `system` or `manual`.
    ClockModeSchema = "ClockMode",
    "Which clock the server runs on",
    ClockMode { System, Manual }
);

/// The endpoints of `ops.rs`, documented here so that module stays as it is: the attribute
/// describes the handler of the same name there.
pub mod ops_paths {
    #![allow(dead_code)] // only the attributes are used (by `ApiDoc`)

    use crate::http::dto::{HealthView, PluginsView};
    use crate::http::error::ErrorBody;

    /// One Server-Sent Event of `GET /v1/events`, as read by a client (the `event:`, `data:`
    /// and `id:` lines).
    #[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
    pub struct StreamEvent {
        /// Its type: `conversation.queued`, `conversation.offered`,
        /// `conversation.offer_withdrawn`, `conversation.accepted`, `conversation.requeued`,
        /// `conversation.closed`, `agent.availability_changed`, `channel.changed` and
        /// `agent.changed` (data `{"id", "type", "at", "channel" or "agent", "object"}`, the
        /// object as `GET` of that channel or agent shows it after a change of its settings);
        /// `reset` (data `{"after": id}`) first when a resumed stream missed events no longer
        /// retained.
        pub event: String,
        /// The event, one JSON object.
        #[schema(content_media_type = "application/json")]
        pub data: String,
        /// Its id: send the last one back as `Last-Event-ID` to resume.
        pub id: Option<String>,
    }

    /// `GET /v1/events?agent=&channel=&after=`: Server-Sent Events, one JSON object per
    /// event, the `event:` line naming its type, the `id:` line its id. With `Last-Event-ID`
    /// or `?after=`, the retained events after that id come first (an `event: reset` first
    /// when some are no longer retained). An agent's credential gets its own agent's events
    /// only.
    #[utoipa::path(
        get,
        path = "/v1/events",
        operation_id = "events",
        tag = "events",
        params(
            ("agent" = Option<String>, Query, description = "Only events concerning this agent"),
            ("channel" = Option<String>, Query, description = "Only events of this channel"),
            ("after" = Option<u64>, Query, description = "Resume after this event id"),
            ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event id (wins over `after`)"),
        ),
        responses((status = 200, description = "An endless stream of events, one per message; it \
            ends when its credential is revoked or expires",
            content_type = "text/event-stream", body = StreamEvent),
            (status = 429, description = "`too_many_streams`: the credential holds \
            `server.max_streams_per_credential` open streams already (close one), or \
            `rate_limited`: more requests than the caller's rate", body = ErrorBody)),
    )]
    pub fn events() {}

    /// `GET /v1/plugins`: the registered sources and policies, with each source's events,
    /// reason codes and group settings.
    #[utoipa::path(
        get,
        path = "/v1/plugins",
        operation_id = "plugins",
        tag = "operations",
        responses((status = 200, description = "What is registered", body = PluginsView)),
    )]
    pub fn plugins() {}

    /// `GET /`: the supervisor dashboard (its page asks for a token itself).
    #[utoipa::path(
        get,
        path = "/",
        operation_id = "dashboard",
        tag = "operations",
        security(()),
        responses((status = 200, description = "The dashboard page",
            content_type = "text/html", body = String)),
    )]
    pub fn dashboard() {}

    /// `GET /agent`: the agent console (its page asks for a token itself).
    #[utoipa::path(
        get,
        path = "/agent",
        operation_id = "agent_console",
        tag = "operations",
        security(()),
        responses((status = 200, description = "The agent console page",
            content_type = "text/html", body = String)),
    )]
    pub fn agent_console() {}

    /// `GET /presence.js`: browser presence reporting for any agent-facing page.
    #[utoipa::path(
        get,
        path = "/presence.js",
        operation_id = "presence_js",
        tag = "operations",
        security(()),
        responses((status = 200, description = "The script",
            content_type = "text/javascript", body = String)),
    )]
    pub fn presence_js() {}

    /// `GET /healthz`: 200 while serving.
    #[utoipa::path(
        get,
        path = "/healthz",
        operation_id = "healthz",
        tag = "operations",
        security(()),
        responses((status = 200, description = "Serving", body = HealthView)),
    )]
    pub fn healthz() {}

    /// `GET /readyz`: 200 when the store answers and writes are possible.
    #[utoipa::path(
        get,
        path = "/readyz",
        operation_id = "readyz",
        tag = "operations",
        security(()),
        responses(
            (status = 200, description = "Ready", body = HealthView),
            (status = 503, description = "`unavailable`: the store is not reachable, or the \
                server is stopping", body = ErrorBody),
        ),
    )]
    pub fn readyz() {}

    /// `GET /metrics`: Prometheus text format (without a token when `auth.public_metrics`).
    #[utoipa::path(
        get,
        path = "/metrics",
        operation_id = "metrics",
        tag = "operations",
        responses((status = 200, description = "Prometheus text format",
            content_type = "text/plain", body = String)),
    )]
    pub fn metrics() {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::Value;

    use super::*;
    use crate::http::error::{AppError, ERROR_CODES};

    fn doc() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    #[test]
    fn r31_the_document_is_openapi_3_1_with_the_crate_version() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn r31_operation_ids_are_unique_and_every_operation_has_a_success_and_its_errors() {
        let doc = doc();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|status| status.starts_with('2')),
                    "{method} {path} has no success response"
                );
                assert!(responses.contains_key("414"), "{method} {path}");
                let public = matches!(
                    path.as_str(),
                    "/" | "/agent" | "/presence.js" | "/healthz" | "/readyz" | "/v1/openapi.json"
                );
                assert_eq!(
                    responses.contains_key("401"),
                    !public,
                    "{method} {path}: 401 exactly when authenticated"
                );
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415"] {
                        assert!(responses.contains_key(status), "{method} {path} {status}");
                    }
                    let content = &operation["requestBody"]["content"];
                    assert!(
                        content.get("application/json").is_some(),
                        "{method} {path}: bodies are JSON"
                    );
                }
            }
        }
    }

    #[test]
    fn r31_the_error_schema_lists_every_code_and_matches_the_body() {
        let doc = doc();
        let schema = &doc["components"]["schemas"]["ErrorBody"];
        assert_eq!(schema["required"], serde_json::json!(["error"]));
        let errors = [
            AppError::invalid("x"),
            AppError::Unauthorized("x".into()),
            AppError::Forbidden("x".into()),
            AppError::not_found("x"),
            AppError::MethodNotAllowed("x".into()),
            AppError::conflict("x"),
            AppError::too_large("x"),
            AppError::UnsupportedMediaType("x".into()),
            AppError::RequestTimeout("x".into()),
            AppError::UriTooLong("x".into()),
            AppError::HeadersTooLarge("x".into()),
            AppError::RateLimited("x".into()),
            AppError::TooManyStreams("x".into()),
            AppError::HttpVersionNotSupported("x".into()),
            AppError::unavailable(),
            AppError::Internal,
        ];
        for error in &errors {
            assert!(ERROR_CODES.contains(&error.code()), "{}", error.code());
            let body = error.body();
            let detail = body["error"].as_object().unwrap();
            let mut keys: Vec<&str> = detail.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["code", "message"]);
        }
        assert_eq!(ERROR_CODES.len(), errors.len());
    }

    #[test]
    fn r31_enum_schemas_list_what_serde_writes() {
        let doc = doc();
        let values = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
        assert_eq!(
            values("ConversationState"),
            serde_json::json!(["queued", "offered", "accepted", "closed"])
        );
        assert_eq!(values("Author"), serde_json::json!(["customer", "agent"]));
        assert_eq!(values("ClockMode"), serde_json::json!(["system", "manual"]));
        for kind in VerdictKindSchema::all() {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for mode in ClockModeSchema::all() {
            assert_eq!(serde_json::to_value(mode).unwrap(), mode.as_str());
        }
        assert_eq!(values("HistoryEvent").as_array().unwrap().len(), 9);
    }
}
