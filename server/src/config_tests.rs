#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::PathBuf;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// Writes `text` to a fresh file in the temp directory.
fn file(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("openline-config-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&path, text).unwrap();
    path
}

fn load(text: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let path = file(text);
    let loaded = Settings::load_with(Some(&path), env(vars));
    let _ = std::fs::remove_file(path);
    loaded
}

fn now() -> Timestamp {
    chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap()
}

fn registry() -> Registry {
    crate::registry().unwrap()
}

#[test]
fn no_file_means_built_in_defaults() {
    let settings = Settings::load_with(None, env(&[])).unwrap();
    assert_eq!(settings.server.listen, "127.0.0.1:8080");
    assert_eq!(settings.store.url, "sqlite://openline.db");
    assert_eq!(settings.clock.mode, ClockMode::System);
    assert_eq!(settings.server.max_streams_per_credential, 20, "SPEC R35c");
    assert!(settings.plugins.is_empty() && settings.channels.is_empty());
    assert_eq!(
        settings.validate(&registry(), now()).unwrap(),
        Vec::<Warning>::new()
    );
}

#[test]
fn environment_overrides_every_section() {
    let settings = load(
        "[server]\nlisten = \"127.0.0.1:1\"\n[clock]\nmode = \"system\"\n",
        &[
            ("OPENLINE__SERVER__LISTEN", "127.0.0.1:9000"),
            ("OPENLINE__CLOCK__MODE", "manual"),
            (
                "OPENLINE__STORE__URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            ("OPENLINE__PLUGINS__MOBILE__BACKGROUND_GRACE", "10m"),
            ("OPENLINE__SERVER__MAX_STREAMS_PER_CREDENTIAL", "3"),
            (
                "OPENLINE_TEST_DATABASE_URL",
                "not a config key: single underscore",
            ),
        ],
    )
    .unwrap();
    assert_eq!(settings.server.listen, "127.0.0.1:9000");
    assert_eq!(settings.server.max_streams_per_credential, 3);
    assert_eq!(settings.clock.mode, ClockMode::Manual);
    assert_eq!(
        settings.store.url,
        "postgres://postgres@127.0.0.1:5432/test"
    );
    assert_eq!(
        settings.plugin_settings("mobile"),
        serde_json::json!({"background_grace": "10m"})
    );
}

#[test]
fn unknown_keys_are_refused_naming_the_key() {
    let err = load("[server]\nlisen = \"127.0.0.1:1\"\n", &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("server") && text.contains("lisen"), "{text}");

    let err = Settings::load_with(None, env(&[("OPENLINE__STORE__URI", "x")])).unwrap_err();
    assert!(err.to_string().contains("uri"), "{err}");

    let err = load("[sever]\nlisten = \"x:1\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("sever"), "{err}");

    let err = load(
        "[[channels]]\nid = \"web\"\nname = \"Web\"\npolicyy = \"evenly\"\n",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("policyy"), "{err}");
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    let err = load("[clock]\nmode = \"sundial\"\n", &[]).unwrap_err();
    assert!(
        err.to_string().contains("clock.mode") && err.to_string().contains("sundial"),
        "{err}"
    );

    let settings = load("[server]\nlisten = \"nowhere\"\n", &[]).unwrap();
    let err = settings.validate(&registry(), now()).unwrap_err();
    assert!(err.to_string().contains("server.listen"), "{err}");

    let settings = load("[store]\nurl = \"mysql://x\"\n", &[]).unwrap();
    let err = settings.validate(&registry(), now()).unwrap_err();
    assert!(err.to_string().contains("store.url"), "{err}");
}

#[test]
fn bad_plugin_duration_is_refused() {
    let settings = load(
        "[plugins.mobile]\nbackground_grace = \"five minutes\"\n",
        &[],
    )
    .unwrap();
    let err = settings.validate(&registry(), now()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("mobile") && text.contains("background_grace"),
        "{text}"
    );
}

#[test]
fn unknown_plugin_names_and_plugin_keys_are_refused() {
    let settings = load("[plugins.mobil]\nbackground_grace = \"5m\"\n", &[]).unwrap();
    let err = settings.validate(&registry(), now()).unwrap_err();
    assert!(
        err.to_string().contains("plugins.mobil") && err.to_string().contains("registered"),
        "{err}"
    );

    let settings = load("[plugins.browser]\nidle_timeoutt = \"5m\"\n", &[]).unwrap();
    let err = settings.validate(&registry(), now()).unwrap_err();
    assert!(err.to_string().contains("idle_timeoutt"), "{err}");
}

#[test]
fn channels_are_validated_against_the_plugins() {
    let settings = load(
        "[[channels]]\nid = \"web\"\nname = \"Web\"\npolicy = \"fastest\"\n",
        &[],
    )
    .unwrap();
    let err = settings.validate(&registry(), now()).unwrap_err();
    assert!(
        err.to_string().contains("channels[0]") && err.to_string().contains("fastest"),
        "{err}"
    );

    let settings = load("[[channels]]\nname = \"Web\"\n", &[]).unwrap();
    let err = settings.validate(&registry(), now()).unwrap_err();
    assert!(err.to_string().contains("channels[0].id"), "{err}");

    let twice =
        "[[channels]]\nid = \"web\"\nname = \"A\"\n[[channels]]\nid = \"web\"\nname = \"B\"\n";
    let err = load(twice, &[])
        .unwrap()
        .validate(&registry(), now())
        .unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");

    // SPEC R35a: the file's text values follow the rule request bodies do.
    let control = "[[channels]]\nid = \"web\"\nname = \"Web\\u0000chat\"\n";
    let err = load(control, &[])
        .unwrap()
        .validate(&registry(), now())
        .unwrap_err();
    assert!(
        err.to_string().contains("channels[0].name") && err.to_string().contains("control"),
        "{err}"
    );
}

#[test]
fn r3_check_warns_about_a_channel_that_can_never_route() {
    let text = "[[channels]]\nid = \"hr-only\"\nname = \"H\"\ncheck_availability = true\nsources = [\"hr\"]\n\
                [[channels]]\nid = \"fine\"\nname = \"F\"\ncheck_availability = true\nsources = [\"hr\", \"mobile\"]\n";
    let warnings = load(text, &[])
        .unwrap()
        .validate(&registry(), now())
        .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("hr-only") && warnings[0].contains("routes to nobody"),
        "{warnings:?}"
    );
}

#[test]
fn the_example_file_passes_check_without_warnings() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openline.example.toml");
    let settings = Settings::load_with(Some(&path), env(&[])).unwrap();
    assert_eq!(
        settings.validate(&registry(), now()).unwrap(),
        Vec::<Warning>::new()
    );
    assert!(
        settings.channels.is_empty(),
        "a copy of the example must not replace the user's channels"
    );
}

/// The example's `[[channels]]` entry, commented out so that a copy does not clobber a channel
/// made through the API, is valid once uncommented.
#[test]
fn the_example_channel_once_uncommented_is_valid() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openline.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let entry = text
        .split("\n# [[channels]]\n")
        .nth(1)
        .expect("the example shows a commented-out [[channels]] entry");
    let uncommented: Vec<&str> = std::iter::once("[[channels]]")
        .chain(
            entry
                .lines()
                .map_while(|line| line.strip_prefix("# ").filter(|l| !l.is_empty())),
        )
        .collect();
    let settings = load(&uncommented.join("\n"), &[]).unwrap();
    assert_eq!(
        settings.validate(&registry(), now()).unwrap(),
        Vec::<Warning>::new()
    );
    assert_eq!(settings.channels.len(), 1);
    assert_eq!(
        settings.channels[0].sources,
        ["hr", "timesheet", "messenger", "mobile", "browser"]
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let err =
        Settings::load_with(Some(Path::new("/nonexistent/openline.toml")), env(&[])).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/openline.toml"),
        "{err}"
    );
}

/// The error `text` (a config file) and `vars` give, from loading or validating.
fn refusal(text: &str, vars: &[(&str, &str)]) -> ConfigError {
    match load(text, vars) {
        Err(err) => err,
        Ok(settings) => settings.validate(&registry(), now()).unwrap_err(),
    }
}

#[test]
fn errors_name_the_exact_key_and_say_what_is_valid() {
    let cases = [
        (
            "[clock]\nmode = \"manul\"\n",
            "`clock.mode`: `manul` is not one of: system, manual",
        ),
        (
            "[plugins.messenger]\nheartbeat_timeout = \"two minutes\"\n",
            "`plugins.messenger.heartbeat_timeout`: `two minutes` is not a duration",
        ),
        (
            "[plugins.mobile]\nbackground_grace = 120\n",
            "`plugins.mobile.background_grace`: invalid type: integer `120`, expected a duration string such as \"90s\", \"5m\" or \"1h 30m\"",
        ),
        (
            "[[channels]]\nid = \"web\"\nname = \"Web\"\noffer_timeout_seconds = \"x\"\n",
            "`channels[0].offer_timeout_seconds`: invalid type: string \"x\", expected an integer",
        ),
        (
            "[[channels]]\nid = \"web\"\nname = \"Web\"\noffer_timeout_seconds = 0\n",
            "`channels[0].offer_timeout_seconds`: must be between 1 and 86400 (one day), not 0",
        ),
        (
            "[retention]\nclosed_in_memory = \"0s\"\n",
            "`retention.closed_in_memory`: must be longer than zero",
        ),
        (
            "[retention]\nclosed_in_memory = \"2d\"\nclosed_conversations = \"1d\"\n",
            "`retention.closed_in_memory`: must not be longer than `retention.closed_conversations` (1day)",
        ),
        (
            "[store]\nsnapshot_records = 0\n",
            "`store.snapshot_records`: must be at least 1",
        ),
        (
            "[store]\nsnapshot_interval = \"often\"\n",
            "`store.snapshot_interval`: `often` is not a duration",
        ),
        (
            "[store]\nreconnect_timeout = \"0s\"\n",
            "`store.reconnect_timeout`: must be longer than zero",
        ),
        (
            "[server]\nheader_timeout = \"0s\"\n",
            "`server.header_timeout`: must be longer than zero",
        ),
        (
            "[server]\nbody_timeout = \"soon\"\n",
            "`server.body_timeout`: `soon` is not a duration",
        ),
        (
            "[server]\ncors_origins = [\"https://a.example\", \"*\"]\n",
            "`server.cors_origins[1]`: `*` is not an origin",
        ),
        (
            "[server]\ncors_origins = [\"https://a.example/app\"]\n",
            "`server.cors_origins[0]`: `https://a.example/app` is not an origin",
        ),
        (
            "[server]\nidle_timeout = \"0s\"\n",
            "`server.idle_timeout`: must be longer than zero",
        ),
        (
            "[server]\nmax_streams_per_credential = 0\n",
            "`server.max_streams_per_credential`: must be at least 1",
        ),
        (
            "[auth]\nrate_limit_per_second = 0\n",
            "`auth.rate_limit_per_second`: must be at least 1",
        ),
        (
            "[auth]\nrate_limit_per_second = -1\n",
            "`auth.rate_limit_per_second`: invalid type: 64-bit integer `-1`, expected an unsigned 64 bit or less integer",
        ),
        (
            "[auth]\npublic_metrics = \"maybe\"\n",
            "`auth.public_metrics`: ",
        ),
        (
            "[auth]\njwt_hs256_secret = \"short\"\n",
            "`auth.jwt_hs256_secret`: an HS256 secret must be at least 32 bytes long (this one has 5)",
        ),
        (
            "[auth]\njwt_public_key_file = \"/nonexistent/jwt.pem\"\n",
            "`auth.jwt_public_key_file`: cannot read `/nonexistent/jwt.pem`",
        ),
    ];
    for (text, expected) in cases {
        let err = refusal(text, &[]);
        assert!(!err.is_from_environment(), "{err}");
        assert!(
            err.to_string().starts_with(expected),
            "{err}\nexpected: {expected}"
        );
    }
    let err = refusal("[plugins.messenger]\nheartbeat_timeout = \"soon\"\n", &[]);
    assert!(
        err.to_string()
            .contains("write a duration such as \"90s\", \"5m\" or \"1h 30m\""),
        "{err}"
    );
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let cases = [
        (
            "OPENLINE__CLOCK__MODE",
            "manul",
            "environment variable OPENLINE__CLOCK__MODE (`clock.mode`): `manul` is not one of",
        ),
        (
            "OPENLINE__PLUGINS__MESSENGER__HEARTBEAT_TIMEOUT",
            "soon",
            "environment variable OPENLINE__PLUGINS__MESSENGER__HEARTBEAT_TIMEOUT (`plugins.messenger.heartbeat_timeout`): `soon` is not a duration",
        ),
        (
            "OPENLINE__SERVER__LISTEN",
            "nowhere",
            "environment variable OPENLINE__SERVER__LISTEN (`server.listen`): `nowhere` is not a `host:port` address",
        ),
    ];
    for (variable, value, expected) in cases {
        let err = refusal("", &[(variable, value)]);
        assert!(err.is_from_environment(), "{err}");
        assert!(
            err.to_string().starts_with(expected),
            "{err}\nexpected: {expected}"
        );
    }
    // The same key set in the file is the file's fault.
    let err = refusal(
        "[server]\nlisten = \"nowhere\"\n",
        &[("OPENLINE__CLOCK__MODE", "manual")],
    );
    assert!(!err.is_from_environment(), "{err}");
}

#[test]
fn a_relative_sqlite_file_lives_next_to_the_config_file() {
    let dir = Path::new("/etc/openline");
    assert_eq!(
        beside("sqlite://openline.db", dir),
        "sqlite:///etc/openline/openline.db"
    );
    assert_eq!(
        beside("sqlite://data/ol.db?mode=rwc", dir),
        "sqlite:///etc/openline/data/ol.db?mode=rwc"
    );
    for unchanged in [
        "sqlite:///var/lib/openline.db",
        "sqlite://:memory:",
        "postgres://postgres@127.0.0.1/test",
    ] {
        assert_eq!(beside(unchanged, dir), unchanged);
    }
    let loaded = load("[store]\nurl = \"sqlite://here.db\"\n", &[]).unwrap();
    let expected = std::env::temp_dir().join("here.db");
    assert_eq!(loaded.store.url, format!("sqlite://{}", expected.display()));
    let defaults = Settings::load_with(None, env(&[])).unwrap();
    assert_eq!(
        defaults.store.url, "sqlite://openline.db",
        "no file: the working directory"
    );
}

#[test]
fn r27_a_network_address_without_a_way_to_authenticate_needs_a_token_unless_opted_out() {
    let network = "[server]\nlisten = \"0.0.0.0:8080\"\n";
    let settings = load(network, &[]).unwrap();
    assert!(settings.needs_a_token());
    // Whether a token exists is the store's to say: `openline check` warns, `serve` refuses
    // to start, only when none does (tests/tests/cli_config.rs); the file alone is valid.
    assert!(settings.validate(&registry(), now()).unwrap().is_empty());
    let opted_out = load(&format!("{network}[auth]\nmode = \"none\"\n"), &[]).unwrap();
    assert!(!opted_out.needs_a_token());
    assert!(opted_out.validate(&registry(), now()).unwrap().is_empty());
    assert!(
        !opted_out.local_mode(),
        "no Host check once authentication is explicitly off"
    );
    let secret = "s".repeat(32);
    let with_jwt = load(
        &format!("{network}[auth]\njwt_hs256_secret = \"{secret}\"\n"),
        &[],
    )
    .unwrap();
    assert!(
        !with_jwt.needs_a_token(),
        "a JWT key is a way to authenticate"
    );
    for local in ["127.0.0.1:9000", "localhost:9000", "[::1]:9000"] {
        let settings = load(&format!("[server]\nlisten = \"{local}\"\n"), &[]).unwrap();
        assert!(
            settings.validate(&registry(), now()).unwrap().is_empty(),
            "{local}"
        );
        assert!(settings.local_mode(), "{local}");
        assert!(!settings.needs_a_token(), "{local}");
    }
    let err = load("[auth]\nmode = \"nobody\"\n", &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("`nobody` is not one of: tokens, none"),
        "{err}"
    );
}

/// The dotted key paths of `value` (arrays of tables as `name[]`), e.g. `server.listen`.
fn key_paths(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                key_paths(&path, inner, out);
            }
        }
        serde_json::Value::Array(items)
            if items.iter().all(|i| i.is_object()) && !items.is_empty() =>
        {
            for item in items {
                key_paths(&format!("{prefix}[]"), item, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn every_key_of_the_example_file_is_documented_in_docs_configuration() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("openline.example.toml");
    let docs = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let parsed: serde_json::Value = config::Config::builder()
        .add_source(config::File::from(example.as_path()).format(config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap();
    let mut keys = Vec::new();
    key_paths("", &parsed, &mut keys);
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 20, "{keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !docs.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md: {missing:?}"
    );
}

#[test]
fn auth_defaults_and_jwt_keys() {
    let defaults = Settings::load_with(None, env(&[])).unwrap().auth;
    assert_eq!(defaults, AuthSettings::default());
    assert_eq!(defaults.mode, AuthMode::Tokens);
    assert_eq!(defaults.jwt_hs256_secret, None);
    assert_eq!(defaults.jwt_public_key_file, None);
    assert!(!defaults.public_metrics);
    assert_eq!(defaults.rate_limit_per_second, 1000);

    let secret = "a-secret-of-at-least-32-bytes-for-tests";
    let settings = load(
        &format!(
            "[auth]\njwt_hs256_secret = \"{secret}\"\npublic_metrics = true\nrate_limit_per_second = 1\n"
        ),
        &[],
    )
    .unwrap();
    assert!(settings.validate(&registry(), now()).is_ok());
    assert_eq!(settings.auth.jwt_hs256_secret.as_deref(), Some(secret));
    assert!(settings.auth.public_metrics);
    assert_eq!(settings.auth.rate_limit_per_second, 1);
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains(secret) && debug.contains("<redacted>"),
        "{debug}"
    );
}

#[test]
fn a_relative_jwt_key_file_is_next_to_the_config_file() {
    let name = format!("openline-jwt-{}.pem", uuid::Uuid::now_v7());
    let key = std::env::temp_dir().join(&name);
    std::fs::write(&key, include_bytes!("auth/testdata/ec_public.pem")).unwrap();
    let loaded = load(&format!("[auth]\njwt_public_key_file = \"{name}\"\n"), &[]);
    let _ = std::fs::remove_file(&key);
    let settings = loaded.unwrap();
    assert_eq!(settings.auth.jwt_public_key_file, Some(key.clone()));

    // The file is read when validating: gone now, it is refused naming the file.
    let err = settings
        .validate(&registry(), now())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "`auth.jwt_public_key_file`: cannot read `{}`",
            key.display()
        )),
        "{err}"
    );

    let absolute = "/etc/openline/jwt.pem";
    let settings = load(
        &format!("[auth]\njwt_public_key_file = \"{absolute}\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        settings.auth.jwt_public_key_file.as_deref(),
        Some(Path::new(absolute))
    );
}

#[test]
fn an_invalid_jwt_key_file_is_refused_naming_it() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/auth/testdata");
    for (file, problem) in [
        ("rsa_private.pem", "holds a private key"),
        (
            "ec_p384_public.pem",
            "is not a PEM public key for RS256 (RSA) or ES256 (EC P-256)",
        ),
        ("README.md", "is not a PEM public key"),
    ] {
        let path = dir.join(file);
        let err = refusal(
            &format!("[auth]\njwt_public_key_file = \"{}\"\n", path.display()),
            &[],
        );
        let expected = format!("`auth.jwt_public_key_file`: `{}` {problem}", path.display());
        assert!(
            err.to_string().starts_with(&expected),
            "{err}\nexpected: {expected}"
        );
    }
    for file in ["rsa_public.pem", "ec_public.pem"] {
        let text = format!(
            "[auth]\njwt_public_key_file = \"{}\"\n",
            dir.join(file).display()
        );
        assert!(
            load(&text, &[])
                .unwrap()
                .validate(&registry(), now())
                .is_ok(),
            "{file}"
        );
    }
}

#[test]
fn auth_values_from_the_environment_name_the_variable() {
    let err = refusal("", &[("OPENLINE__AUTH__RATE_LIMIT_PER_SECOND", "0")]);
    assert_eq!(
        err.to_string(),
        "environment variable OPENLINE__AUTH__RATE_LIMIT_PER_SECOND (`auth.rate_limit_per_second`): must be at least 1"
    );
    let err = refusal("", &[("OPENLINE__AUTH__JWT_HS256_SECRET", "hunter2")]);
    let text = err.to_string();
    assert!(
        text.starts_with(
            "environment variable OPENLINE__AUTH__JWT_HS256_SECRET (`auth.jwt_hs256_secret`): \
             an HS256 secret must be at least 32 bytes"
        ),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "never echoes the secret: {text}");
    let settings = Settings::load_with(
        None,
        env(&[
            ("OPENLINE__AUTH__PUBLIC_METRICS", "true"),
            ("OPENLINE__AUTH__RATE_LIMIT_PER_SECOND", "50"),
            (
                "OPENLINE__AUTH__JWT_HS256_SECRET",
                "12345678901234567890123456789012",
            ),
        ]),
    )
    .unwrap();
    assert!(settings.auth.public_metrics);
    assert_eq!(settings.auth.rate_limit_per_second, 50);
    assert_eq!(
        settings.auth.jwt_hs256_secret.as_deref(),
        Some("12345678901234567890123456789012"),
        "a secret of digits stays text"
    );
    assert!(settings.validate(&registry(), now()).is_ok());
}
