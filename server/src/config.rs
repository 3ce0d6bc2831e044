//! Typed settings (API.md "Command line and configuration"): a TOML file, overridden key by
//! key by `OPENLINE__<SECTION>__<KEY>` environment variables, on top of built-in defaults
//! (so no file at all works). Unknown keys and unknown plugin names are refused with a
//! message naming the key.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use openline_core::engine::Plugins;
use openline_core::registry::Registry;
use openline_core::{ChannelId, Engine, Timestamp};
use serde::Deserialize;

use crate::channel::ChannelBody;
use crate::presence_sources::PresenceSourceConfig;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default store: a SQLite file in the working directory.
pub const DEFAULT_STORE_URL: &str = "sqlite://openline.db";

/// Why the configuration could not be loaded or is invalid. The message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("cannot read configuration: {0}")]
    Load(String),
    /// A key has an invalid value or is not known.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The key at fault, e.g. `store.url` or `channels[1].policy`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A key set by an environment variable has an invalid value.
    #[error("environment variable {variable} (`{key}`): {message}")]
    InvalidEnv {
        /// The variable, e.g. `OPENLINE__CLOCK__MODE`.
        variable: String,
        /// The key it sets, e.g. `clock.mode`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// True when the value at fault came from the environment, not from the file.
    pub fn is_from_environment(&self) -> bool {
        matches!(self, Self::InvalidEnv { .. })
    }
}

/// The environment variable that sets `key` (`clock.mode` → `OPENLINE__CLOCK__MODE`).
fn variable_for(key: &str) -> String {
    format!("OPENLINE__{}", key.replace('.', "__").to_uppercase())
}

/// The `OPENLINE__…` variables that are set (upper-cased), in `env` or the process's.
fn variables_set(env: Option<&HashMap<String, String>>) -> BTreeSet<String> {
    let names: Vec<String> = match env {
        Some(map) => map.keys().cloned().collect(),
        None => std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect(),
    };
    names
        .into_iter()
        .map(|name| name.to_uppercase())
        .filter(|name| name.starts_with("OPENLINE__"))
        .collect()
}

/// The value of the variable `name` (matched without regard to case, as the config crate
/// does), in `env` or the process's, exactly as set.
fn raw_variable(env: Option<&HashMap<String, String>>, name: &str) -> Option<String> {
    match env {
        Some(map) => map
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone()),
        None => std::env::vars_os()
            .find(|(key, _)| key.to_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, value)| value.into_string().ok()),
    }
}

/// The config crate's message without its own " for key `…` in FILE" tail (the key is named
/// by the caller, exactly).
fn bare_message(message: String) -> String {
    match message.find(" for key `") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerSettings,
    /// `[auth]`.
    #[serde(default)]
    pub auth: AuthSettings,
    /// `[store]`.
    #[serde(default)]
    pub store: StoreSettings,
    /// `[clock]`.
    #[serde(default)]
    pub clock: ClockSettings,
    /// `[retention]` (SPEC R21b).
    #[serde(default)]
    pub retention: RetentionSettings,
    /// `[webhooks]` (SPEC R30).
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// `[plugins.<name>]`: each source plugin's own settings, handed to its builder.
    #[serde(default)]
    pub plugins: BTreeMap<String, serde_json::Value>,
    /// `[[channels]]`: applied at start-up; the file wins for them.
    #[serde(default)]
    pub channels: Vec<ChannelBody>,
    /// `[[presence_sources]]`: presence sources declared without code (SPEC R34).
    #[serde(default)]
    pub presence_sources: Vec<PresenceSourceConfig>,
    /// The `OPENLINE__…` variables that were set when loading, to name them in errors.
    #[serde(skip)]
    pub environment: BTreeSet<String>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on, `host:port`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A client must send its whole request head within this (SPEC R24b).
    #[serde(
        default = "default_header_timeout",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub header_timeout: Duration,
    /// … and its whole body within this, once the head arrived.
    #[serde(
        default = "default_body_timeout",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub body_timeout: Duration,
    /// A kept-alive connection without a request for this long is closed.
    #[serde(
        default = "default_idle_timeout",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub idle_timeout: Duration,
    /// Web origins allowed to call the API from a browser (CORS), e.g.
    /// `https://helpdesk.example.com`; none by default (SPEC R27).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// The most event streams one credential holds open at once; one more gets 429
    /// (SPEC R35c).
    #[serde(default = "default_max_streams_per_credential")]
    pub max_streams_per_credential: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            cors_origins: Vec::new(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            idle_timeout: default_idle_timeout(),
            max_streams_per_credential: default_max_streams_per_credential(),
        }
    }
}

fn default_max_streams_per_credential() -> usize {
    20
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://FILE` or `postgres://…`.
    #[serde(default = "default_store_url")]
    pub url: String,
    /// A snapshot is taken once this many records were logged since the last one (SPEC R21a).
    #[serde(default = "default_snapshot_records")]
    pub snapshot_records: u64,
    /// … or once this long passed since the last one, if anything was logged meanwhile.
    #[serde(
        default = "default_snapshot_interval",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub snapshot_interval: Duration,
    /// A dropped database connection is retried for this long before the server gives up
    /// and exits non-zero (SPEC R23c).
    #[serde(
        default = "default_reconnect_timeout",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub reconnect_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: default_store_url(),
            snapshot_records: default_snapshot_records(),
            snapshot_interval: default_snapshot_interval(),
            reconnect_timeout: default_reconnect_timeout(),
        }
    }
}

fn default_snapshot_records() -> u64 {
    100_000
}

fn default_snapshot_interval() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_reconnect_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `[retention]`: how long what is over stays (SPEC R21b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// A closed conversation leaves memory this long after it closed (then it is read from
    /// the store).
    #[serde(
        default = "default_closed_in_memory",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub closed_in_memory: Duration,
    /// A closed conversation is deleted from the store this long after it closed.
    #[serde(
        default = "default_closed_conversations",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub closed_conversations: Duration,
    /// Events are kept in the store this long, for subscribers that resume (SPEC R29).
    #[serde(
        default = "default_events",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub events: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            closed_in_memory: default_closed_in_memory(),
            closed_conversations: default_closed_conversations(),
            events: default_events(),
        }
    }
}

/// `[webhooks]` (SPEC R30).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// An event not delivered this long after it happened is given up (and recorded).
    #[serde(
        default = "default_webhook_max_age",
        deserialize_with = "openline_core::settings::positive_duration"
    )]
    pub max_age: Duration,
    /// Host names webhooks may target; empty: any.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            max_age: default_webhook_max_age(),
            allowed_hosts: Vec::new(),
        }
    }
}

fn default_webhook_max_age() -> Duration {
    Duration::from_secs(24 * 60 * 60)
}

fn default_events() -> Duration {
    Duration::from_secs(24 * 60 * 60)
}

fn default_closed_in_memory() -> Duration {
    Duration::from_secs(60 * 60)
}

fn default_closed_conversations() -> Duration {
    Duration::from_secs(90 * 24 * 60 * 60)
}

fn default_store_url() -> String {
    DEFAULT_STORE_URL.to_owned()
}

/// `[clock]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSettings {
    /// `system` or `manual` (SPEC R18).
    #[serde(default)]
    pub mode: ClockMode,
}

/// `[auth]` (SPEC R25–R27). Its `Debug` output never shows the HS256 secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `tokens` (the default) or `none`, the explicit opt-out.
    #[serde(default)]
    pub mode: AuthMode,
    /// Accept HS256 JWTs signed with this secret (at least
    /// [`MIN_SECRET_BYTES`](crate::auth::jwt::MIN_SECRET_BYTES) bytes; checked by
    /// [`Settings::validate`]).
    #[serde(default)]
    pub jwt_hs256_secret: Option<String>,
    /// Accept RS256 or ES256 JWTs verified with the PEM public key in this file; a relative
    /// path is relative to the configuration file's folder (made absolute by
    /// [`Settings::load_with`]). Read and checked by [`Settings::validate`].
    #[serde(default)]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Serve `/metrics` without authentication (SPEC R25).
    #[serde(default)]
    pub public_metrics: bool,
    /// The most requests per second the server accepts (at least 1).
    #[serde(default = "default_rate_limit_per_second")]
    pub rate_limit_per_second: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::default(),
            jwt_hs256_secret: None,
            jwt_public_key_file: None,
            public_metrics: false,
            rate_limit_per_second: default_rate_limit_per_second(),
        }
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("mode", &self.mode)
            .field(
                "jwt_hs256_secret",
                &self.jwt_hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("public_metrics", &self.public_metrics)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .finish()
    }
}

fn default_rate_limit_per_second() -> u32 {
    1000
}

/// Whether requests must authenticate (SPEC R27).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
pub enum AuthMode {
    /// Requests present a token; with none configured, the server serves only on a loopback
    /// address, to loopback host names.
    #[default]
    Tokens,
    /// No authentication anywhere: anyone who reaches the port may do everything.
    None,
}

impl<'de> Deserialize<'de> for AuthMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        named(deserializer)
    }
}

impl Settings {
    /// Serving without authentication on a loopback address (SPEC R27): the local mode, in
    /// which only loopback `Host` names are answered.
    pub fn local_mode(&self) -> bool {
        self.auth.mode == AuthMode::Tokens && crate::http::is_loopback_host(&self.server.listen)
    }

    /// Listening on a network address with no JWT key: the server may start only if a token
    /// exists in the store, else anyone who reaches the port could do everything (SPEC R27).
    pub fn needs_a_token(&self) -> bool {
        self.auth.mode == AuthMode::Tokens
            && !crate::http::is_loopback_host(&self.server.listen)
            && self.auth.jwt_hs256_secret.is_none()
            && self.auth.jwt_public_key_file.is_none()
    }
}

/// Which clock drives time (SPEC R18).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
pub enum ClockMode {
    /// The system's wall clock.
    #[default]
    System,
    /// Moves only through `POST /v1/clock/advance`.
    Manual,
}

impl ClockMode {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl serde::Serialize for ClockMode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClockMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        named(deserializer)
    }
}

/// Reads an enum from its snake_case name; an unknown name is refused listing the valid ones.
fn named<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + strum::VariantNames,
{
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{name}` is not one of: {}",
            T::VARIANTS.join(", ")
        ))
    })
}

/// Something valid but suspicious, reported by `openline check`.
pub type Warning = String;

impl Settings {
    /// Loads `file` (if any) then the process environment over it.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, None)
    }

    /// Loads `file` (if any), then `env` over it (`None` = the process environment; keys as
    /// `OPENLINE__SERVER__LISTEN`).
    pub fn load_with(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        let environment = variables_set(env.as_ref());
        // The config crate parses variables that look like numbers or booleans: a secret of
        // digits would come out as a float, silently changed. Take it as it was set.
        let secret_variable = variable_for("auth.jwt_hs256_secret");
        let raw_secret = raw_variable(env.as_ref(), &secret_variable);
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "no such file: {}",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let overrides = config::Environment::with_prefix("OPENLINE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(env.map(|map| map.into_iter().collect()));
        let built = builder
            .add_source(overrides)
            .build()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        let mut settings = serde_path_to_error::deserialize::<_, Self>(built).map_err(|e| {
            let key = e.path().to_string();
            let message = bare_message(e.into_inner().to_string());
            let key = if key == "." || key.is_empty() {
                "(top level)".to_owned()
            } else {
                key
            };
            attribute(&environment, ConfigError::invalid(key, message))
        })?;
        settings.environment = environment;
        if raw_secret.is_some() {
            settings.auth.jwt_hs256_secret = raw_secret;
        }
        if let Some(dir) = file.and_then(Path::parent) {
            settings.store.url = beside(&settings.store.url, dir);
            if let Some(key_file) = &mut settings.auth.jwt_public_key_file
                && key_file.is_relative()
            {
                *key_file = dir.join(&*key_file);
            }
        }
        Ok(settings)
    }

    /// `error`, naming the environment variable when its key was set by one.
    fn attribute(&self, error: ConfigError) -> ConfigError {
        attribute(&self.environment, error)
    }

    /// The settings of plugin `name` (`null` when it has no table).
    pub fn plugin_settings(&self, name: &str) -> serde_json::Value {
        self.plugins
            .get(name)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    /// Builds every registered source with its settings (each plugin validates its own keys
    /// and durations) and the policy builders.
    pub fn build_plugins(&self, registry: &Registry) -> Result<Plugins, ConfigError> {
        let sources = registry.source_names();
        for name in self.plugins.keys() {
            if !sources.contains(&name.as_str()) {
                return Err(self.attribute(ConfigError::invalid(
                    format!("plugins.{name}"),
                    format!(
                        "unknown source plugin `{name}`; registered: {}",
                        sources.join(", ")
                    ),
                )));
            }
        }
        let mut plugins = Plugins::from_registry(registry, |name| self.plugin_settings(name))
            .map_err(|e| self.attribute(plugin_error(e)))?;
        for (index, declared) in self.presence_sources.iter().enumerate() {
            let earlier = &self.presence_sources[..index];
            let taken = |name: &str| {
                sources.contains(&name) || earlier.iter().any(|other| other.name == name)
            };
            if let Some((key, message)) = declared.problem(taken) {
                return Err(ConfigError::invalid(
                    format!("presence_sources[{index}].{key}"),
                    message,
                ));
            }
            plugins.add_source(&declared.name, Box::new(declared.build()));
        }
        Ok(plugins)
    }

    /// Checks everything that can be checked without starting: addresses, the `[auth]`
    /// settings (the JWT secret's length; the public key file is read and parsed), the store
    /// URL, plugin settings and the channels (against a scratch engine). Returns warnings.
    pub fn validate(
        &self,
        registry: &Registry,
        now: Timestamp,
    ) -> Result<Vec<Warning>, ConfigError> {
        validate_listen(&self.server.listen).map_err(|e| self.attribute(e))?;
        for (index, origin) in self.server.cors_origins.iter().enumerate() {
            validate_origin(origin).map_err(|message| {
                self.attribute(ConfigError::invalid(
                    format!("server.cors_origins[{index}]"),
                    message,
                ))
            })?;
        }
        if self.server.max_streams_per_credential == 0 {
            return Err(self.attribute(ConfigError::invalid(
                "server.max_streams_per_credential",
                "must be at least 1",
            )));
        }
        if self.auth.rate_limit_per_second == 0 {
            return Err(self.attribute(ConfigError::invalid(
                "auth.rate_limit_per_second",
                "must be at least 1",
            )));
        }
        crate::auth::jwt::JwtVerifier::from_settings(&self.auth).map_err(|e| self.attribute(e))?;
        crate::store::StoreKind::from_url(&self.store.url)
            .map_err(|e| self.attribute(ConfigError::invalid("store.url", e)))?;
        if self.store.snapshot_records == 0 {
            return Err(self.attribute(ConfigError::invalid(
                "store.snapshot_records",
                "must be at least 1",
            )));
        }
        let retention = &self.retention;
        if retention.closed_in_memory > retention.closed_conversations {
            return Err(self.attribute(ConfigError::invalid(
                "retention.closed_in_memory",
                format!(
                    "must not be longer than `retention.closed_conversations` ({}): a closed \
                     conversation would outlive its retention in memory",
                    humantime_serde::re::humantime::format_duration(retention.closed_conversations)
                ),
            )));
        }
        let mut engine = Engine::new(self.build_plugins(registry)?, now);
        let mut warnings = Vec::new();
        let mut seen = HashSet::new();
        for (index, (id, body)) in self.channel_entries()?.into_iter().enumerate() {
            if !seen.insert(id.clone()) {
                return Err(ConfigError::invalid(
                    format!("channels[{index}].id"),
                    format!("channel `{id}` is listed twice"),
                ));
            }
            // The same rule as a request body (SPEC R35a): no control character in any text.
            let control = serde_json::to_value(body)
                .ok()
                .and_then(|value| openline_core::text::first_control_character(&value));
            if let Some((field, character)) = control {
                return Err(ConfigError::invalid(
                    format!("channels[{index}].{field}"),
                    format!("must not contain control characters (found {character})"),
                ));
            }
            engine
                .apply(body.to_command(id.clone()), now)
                .map_err(|e| channel_error(index, &id, e))?;
            if body.can_never_route(registry) {
                warnings.push(format!(
                    "channels[{index}] (`{id}`): check_availability is on but its sources ({}) can never grant \
                     nor say online, so it routes to nobody; add a presence source or timesheet",
                    if body.sources.is_empty() { "none".to_owned() } else { body.sources.join(", ") }
                ));
            }
        }
        Ok(warnings)
    }

    /// The `[[channels]]` with their ids checked (present, valid).
    pub fn channel_entries(&self) -> Result<Vec<(ChannelId, &ChannelBody)>, ConfigError> {
        self.channels
            .iter()
            .enumerate()
            .map(|(index, body)| {
                let key = format!("channels[{index}].id");
                let id = body
                    .id
                    .as_deref()
                    .ok_or_else(|| ConfigError::invalid(&key, "missing field `id`"))?;
                let id = ChannelId::new(id)
                    .map_err(|e| ConfigError::invalid(&key, format!("`id` {e}")))?;
                Ok((id, body))
            })
            .collect()
    }
}

/// A SQLite URL whose file path is relative made relative to `dir` (the config file's
/// folder: the database lives next to its configuration, wherever the server is started
/// from); any other URL unchanged.
fn beside(url: &str, dir: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return url.to_owned();
    };
    let (path, query) = rest
        .split_once('?')
        .map_or((rest, None), |(p, q)| (p, Some(q)));
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return url.to_owned();
    }
    let joined = dir.join(path);
    match query {
        Some(query) => format!("sqlite://{}?{query}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

/// `error`, naming the environment variable when its key was set by one of `environment`.
fn attribute(environment: &BTreeSet<String>, error: ConfigError) -> ConfigError {
    match error {
        ConfigError::Invalid { key, message } if environment.contains(&variable_for(&key)) => {
            ConfigError::InvalidEnv {
                variable: variable_for(&key),
                key,
                message,
            }
        }
        other => other,
    }
}

/// A plugin's refusal of its settings, at the exact key (`plugins.mobile.background_grace`).
fn plugin_error(error: openline_core::PluginError) -> ConfigError {
    match error {
        openline_core::PluginError::Settings {
            plugin,
            key,
            message,
        } => {
            let key = match key {
                Some(key) => format!("plugins.{plugin}.{key}"),
                None => format!("plugins.{plugin}"),
            };
            ConfigError::invalid(key, message)
        }
        other => ConfigError::invalid("plugins", other.to_string()),
    }
}

/// The engine's refusal of `[[channels]]` entry `index`, at the field it names.
fn channel_error(index: usize, id: &str, error: openline_core::EngineError) -> ConfigError {
    match error {
        openline_core::EngineError::InvalidField { field, message } => {
            ConfigError::invalid(format!("channels[{index}].{field}"), message)
        }
        other => ConfigError::invalid(
            format!("channels[{index}]"),
            format!("channel `{id}`: {other}"),
        ),
    }
}

/// A CORS origin: `scheme://host[:port]`, nothing after (a browser sends exactly that).
fn validate_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("`{origin}` is not an origin: write `https://host[:port]`"))?;
    let well_formed = !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '*'])
        && axum::http::HeaderValue::from_str(origin).is_ok();
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`{origin}` is not an origin: write `https://host[:port]`, without a path or `*`"
        ))
    }
}

fn validate_listen(listen: &str) -> Result<(), ConfigError> {
    let valid = match listen.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "server.listen",
            format!("`{listen}` is not a `host:port` address"),
        ))
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
