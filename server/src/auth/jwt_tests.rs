#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::*;

// Test-only keys (see testdata/README.md).
const RSA_PRIVATE: &[u8] = include_bytes!("testdata/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("testdata/rsa_public.pem");
const RSA_1024_PUBLIC: &[u8] = include_bytes!("testdata/rsa1024_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("testdata/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("testdata/ec_public.pem");
const EC_P384_PUBLIC: &[u8] = include_bytes!("testdata/ec_p384_public.pem");

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
/// A fixed "now" for `verify_at`: 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

fn hs256_verifier() -> JwtVerifier {
    JwtVerifier::new(Some(SECRET), None).unwrap()
}

fn rsa_verifier() -> JwtVerifier {
    JwtVerifier::new(None, Some(RSA_PUBLIC)).unwrap()
}

fn ec_verifier() -> JwtVerifier {
    JwtVerifier::new(None, Some(EC_PUBLIC)).unwrap()
}

fn claims(role: &str, sub: &str, exp: i64) -> Value {
    json!({"role": role, "sub": sub, "exp": exp})
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn rs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap()
}

fn es256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::ES256),
        claims,
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    )
    .unwrap()
}

/// A token built by hand: `header` and `claims` as JSON, `signature` as given.
fn handmade(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn caller(name: &str, role: Role, agent: Option<&str>) -> Caller {
    Caller {
        name: name.to_owned(),
        role,
        agent: agent.map(|a| AgentId::new(a).unwrap()),
        kind: CredentialKind::Jwt,
    }
}

fn not_allowed(result: Result<Caller, JwtError>) -> String {
    match result {
        Err(JwtError::AlgorithmNotAllowed { alg, accepted }) => format!("{alg} / {accepted}"),
        other => panic!("expected AlgorithmNotAllowed, got {other:?}"),
    }
}

#[test]
fn a_valid_hs256_token_gives_its_caller() {
    let verifier = hs256_verifier();
    for role in [Role::Admin, Role::Supervisor, Role::Integration] {
        let token = hs256(&claims(role.as_str(), "ci-bot", NOW + 600), SECRET);
        assert_eq!(
            verifier.verify_at(&token, NOW),
            Ok(caller("ci-bot", role, None))
        );
    }
    let token = hs256(&claims("agent", "alice", NOW + 600), SECRET);
    assert_eq!(
        verifier.verify_at(&token, NOW),
        Ok(caller("alice", Role::Agent, Some("alice")))
    );
}

#[test]
fn verify_uses_the_wall_clock() {
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap();
    let verifier = hs256_verifier();
    let fresh = hs256(&claims("admin", "ops", now + 3600), SECRET);
    assert_eq!(
        verifier.verify(&fresh),
        Ok(caller("ops", Role::Admin, None))
    );
    let stale = hs256(&claims("admin", "ops", now - 3600), SECRET);
    assert_eq!(verifier.verify(&stale), Err(JwtError::Expired));
}

#[test]
fn exp_is_enforced_with_30_seconds_of_leeway() {
    let verifier = hs256_verifier();
    for exp in [NOW - LEEWAY_SECONDS, NOW - 1, NOW] {
        let token = hs256(&claims("admin", "ops", exp), SECRET);
        assert!(
            verifier.verify_at(&token, NOW).is_ok(),
            "exp = now {}",
            exp - NOW
        );
    }
    for exp in [NOW - LEEWAY_SECONDS - 1, NOW - 3600, 0, -5] {
        let token = hs256(&claims("admin", "ops", exp), SECRET);
        assert_eq!(
            verifier.verify_at(&token, NOW),
            Err(JwtError::Expired),
            "exp = {exp}"
        );
    }
    // A NumericDate may have a fraction.
    let token = hs256(
        &json!({"role": "admin", "sub": "ops", "exp": NOW as f64 + 0.5}),
        SECRET,
    );
    assert!(verifier.verify_at(&token, NOW).is_ok());
}

#[test]
fn exp_is_required_and_must_be_a_number() {
    let verifier = hs256_verifier();
    let token = hs256(&json!({"role": "admin", "sub": "ops"}), SECRET);
    assert_eq!(
        verifier.verify_at(&token, NOW),
        Err(JwtError::MissingClaim("exp"))
    );
    let token = hs256(
        &json!({"role": "admin", "sub": "ops", "exp": "tomorrow"}),
        SECRET,
    );
    assert!(matches!(
        verifier.verify_at(&token, NOW),
        Err(JwtError::InvalidClaim { claim: "exp", .. })
    ));
}

#[test]
fn nbf_is_honoured_when_present() {
    let verifier = hs256_verifier();
    let with_nbf = |nbf: i64| {
        hs256(
            &json!({"role": "admin", "sub": "ops", "exp": NOW + 600, "nbf": nbf}),
            SECRET,
        )
    };
    for nbf in [NOW - 600, NOW, NOW + LEEWAY_SECONDS] {
        assert!(verifier.verify_at(&with_nbf(nbf), NOW).is_ok(), "{nbf}");
    }
    assert_eq!(
        verifier.verify_at(&with_nbf(NOW + LEEWAY_SECONDS + 1), NOW),
        Err(JwtError::NotYetValid)
    );
}

#[test]
fn alg_none_is_refused_whatever_is_configured() {
    let header = json!({"alg": "none", "typ": "JWT"});
    let body = claims("admin", "mallory", NOW + 600);
    let unsigned = handmade(&header, &body, "");
    assert!(looks_like_jwt(&unsigned), "routed to the JWT check");
    let both = JwtVerifier::new(Some(SECRET), Some(RSA_PUBLIC)).unwrap();
    for verifier in [hs256_verifier(), rsa_verifier(), ec_verifier(), both] {
        let message = not_allowed(verifier.verify_at(&unsigned, NOW));
        assert!(message.starts_with("`none` / "), "{message}");
        // Not even with a signature that is really the secret's.
        let signed = handmade(
            &header,
            &body,
            hs256(&body, SECRET).split('.').nth(2).unwrap(),
        );
        not_allowed(verifier.verify_at(&signed, NOW));
    }
    for alg in [
        "None", "NONE", "nOnE", "", "HS512", "RS512", "PS256", "ES384", "EdDSA",
    ] {
        let token = handmade(&json!({"alg": alg}), &body, "c2ln");
        not_allowed(hs256_verifier().verify_at(&token, NOW));
    }
}

#[test]
fn hs256_is_refused_when_only_a_public_key_is_configured() {
    let body = claims("admin", "mallory", NOW + 600);
    let verifier = rsa_verifier();
    let message = not_allowed(verifier.verify_at(&hs256(&body, SECRET), NOW));
    assert_eq!(message, "`HS256` / RS256");
    // The classic confusion: HMAC keyed with the public key's PEM bytes, which the attacker
    // knows. The algorithm is pinned, so it is never tried.
    let forged = hs256(&body, RSA_PUBLIC);
    not_allowed(verifier.verify_at(&forged, NOW));
    not_allowed(ec_verifier().verify_at(&hs256(&body, EC_PUBLIC), NOW));
    // With a secret configured as well, HS256 is allowed but checked with the secret only.
    let both = JwtVerifier::new(Some(SECRET), Some(RSA_PUBLIC)).unwrap();
    assert_eq!(both.algorithms(), ["HS256", "RS256"]);
    assert_eq!(both.verify_at(&forged, NOW), Err(JwtError::BadSignature));
    assert!(both.verify_at(&hs256(&body, SECRET), NOW).is_ok());
    assert!(both.verify_at(&rs256(&body), NOW).is_ok());
}

#[test]
fn public_key_algorithms_are_refused_when_only_a_secret_is_configured() {
    let body = claims("admin", "mallory", NOW + 600);
    let verifier = hs256_verifier();
    assert_eq!(
        not_allowed(verifier.verify_at(&rs256(&body), NOW)),
        "`RS256` / HS256"
    );
    assert_eq!(
        not_allowed(verifier.verify_at(&es256(&body), NOW)),
        "`ES256` / HS256"
    );
    // And the one public-key algorithm does not admit the other.
    not_allowed(rsa_verifier().verify_at(&es256(&body), NOW));
    not_allowed(ec_verifier().verify_at(&rs256(&body), NOW));
}

#[test]
fn a_wrong_secret_or_a_changed_payload_is_a_bad_signature() {
    let body = claims("admin", "ops", NOW + 600);
    let verifier = hs256_verifier();
    let token = hs256(&body, b"another secret of thirty-two bytes or more");
    assert_eq!(verifier.verify_at(&token, NOW), Err(JwtError::BadSignature));

    let genuine = hs256(&claims("agent", "alice", NOW + 600), SECRET);
    let signature = genuine.split('.').nth(2).unwrap();
    let tampered = handmade(&json!({"alg": "HS256", "typ": "JWT"}), &body, signature);
    assert_eq!(
        verifier.verify_at(&tampered, NOW),
        Err(JwtError::BadSignature)
    );
    let unsigned = handmade(&json!({"alg": "HS256"}), &body, "");
    assert_eq!(
        verifier.verify_at(&unsigned, NOW),
        Err(JwtError::BadSignature)
    );

    let genuine = rs256(&claims("agent", "alice", NOW + 600));
    let signature = genuine.split('.').nth(2).unwrap();
    let tampered = handmade(&json!({"alg": "RS256", "typ": "JWT"}), &body, signature);
    assert_eq!(
        rsa_verifier().verify_at(&tampered, NOW),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn role_and_sub_are_required_and_checked() {
    let verifier = hs256_verifier();
    let refusal = |body: Value| verifier.verify_at(&hs256(&body, SECRET), NOW).unwrap_err();
    for role in [json!("root"), json!("Admin"), json!(""), json!(1)] {
        assert!(
            matches!(
                refusal(json!({"role": role, "sub": "ops", "exp": NOW + 600})),
                JwtError::InvalidClaim { claim: "role", .. }
            ),
            "{role}"
        );
    }
    assert_eq!(
        refusal(json!({"sub": "ops", "exp": NOW + 600})),
        JwtError::MissingClaim("role")
    );
    assert_eq!(
        refusal(json!({"role": "admin", "exp": NOW + 600})),
        JwtError::MissingClaim("sub")
    );
    for sub in [json!(""), json!("  "), json!("a\nb"), json!(7)] {
        assert!(
            matches!(
                refusal(json!({"role": "admin", "sub": sub, "exp": NOW + 600})),
                JwtError::InvalidClaim { claim: "sub", .. }
            ),
            "{sub}"
        );
    }
}

#[test]
fn the_agent_role_needs_a_valid_agent_id() {
    let verifier = hs256_verifier();
    let too_long = "a".repeat(openline_core::id::MAX_ID_LEN + 1);
    for sub in ["", " ", "alice\u{7}", too_long.as_str()] {
        let token = hs256(&claims("agent", sub, NOW + 600), SECRET);
        let err = verifier.verify_at(&token, NOW).unwrap_err();
        assert!(
            matches!(err, JwtError::InvalidClaim { claim: "sub", .. }),
            "{sub:?}: {err:?}"
        );
        assert!(err.to_string().contains("not a valid agent id"), "{err}");
    }
}

#[test]
fn rs256_and_es256_tokens_verify_with_their_public_keys() {
    let body = claims("agent", "bob", NOW + 600);
    assert_eq!(rsa_verifier().algorithms(), ["RS256"]);
    assert_eq!(
        rsa_verifier().verify_at(&rs256(&body), NOW),
        Ok(caller("bob", Role::Agent, Some("bob")))
    );
    assert_eq!(ec_verifier().algorithms(), ["ES256"]);
    assert_eq!(
        ec_verifier().verify_at(&es256(&body), NOW),
        Ok(caller("bob", Role::Agent, Some("bob")))
    );
    let expired = claims("admin", "ops", NOW - 3600);
    assert_eq!(
        ec_verifier().verify_at(&es256(&expired), NOW),
        Err(JwtError::Expired)
    );
}

#[test]
fn keys_are_checked_when_the_verifier_is_built() {
    let err =
        |secret: Option<&[u8]>, pem: Option<&[u8]>| JwtVerifier::new(secret, pem).unwrap_err();
    assert_eq!(err(None, None), JwtKeyError::NoKey);
    assert_eq!(
        err(Some(&SECRET[..MIN_SECRET_BYTES - 1]), None),
        JwtKeyError::SecretTooShort(MIN_SECRET_BYTES - 1)
    );
    assert!(JwtVerifier::new(Some(&SECRET[..MIN_SECRET_BYTES]), None).is_ok());
    assert_eq!(err(None, Some(RSA_PRIVATE)), JwtKeyError::PrivateKey);
    assert_eq!(err(None, Some(EC_PRIVATE)), JwtKeyError::PrivateKey);
    assert_eq!(err(None, Some(EC_P384_PUBLIC)), JwtKeyError::NotAPublicKey);
    assert_eq!(
        err(None, Some(RSA_1024_PUBLIC)),
        JwtKeyError::RsaKeyTooSmall(1024)
    );
    assert_eq!(err(None, Some(b"not a key")), JwtKeyError::NotAPublicKey);
    let garbage = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert_eq!(err(None, Some(garbage)), JwtKeyError::NotAPublicKey);
    // A valid key with a line of its body missing: not DER any more.
    let text = std::str::from_utf8(RSA_PUBLIC).unwrap();
    let truncated: String = text
        .lines()
        .enumerate()
        .filter(|(n, _)| *n != 2)
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    assert_eq!(
        err(None, Some(truncated.as_bytes())),
        JwtKeyError::NotAPublicKey
    );
}

#[test]
fn malformed_credentials_are_refused_as_such() {
    let verifier = hs256_verifier();
    for token in [
        "",
        "olt_abc",
        "a.b",
        "a.b.c.d",
        "!!.b.c",
        "e30.e30.c2ln",                 // header `{}`: no alg
        "bm90IGpzb24.e30.c2ln",         // header not JSON
        "eyJhbGciOiJIUzI1NiJ9.bm9wZQ.", // payload not JSON
    ] {
        let result = verifier.verify_at(token, NOW);
        assert!(
            matches!(
                result,
                Err(JwtError::Malformed) | Err(JwtError::BadSignature)
            ),
            "{token:?}: {result:?}"
        );
    }
    assert_eq!(verifier.verify_at("olt_abc", NOW), Err(JwtError::Malformed));
    assert_eq!(
        verifier.verify_at("e30.e30.c2ln", NOW),
        Err(JwtError::Malformed)
    );
}

#[test]
fn looks_like_jwt_routes_by_shape_only() {
    assert!(looks_like_jwt(&hs256(&claims("admin", "a", NOW), SECRET)));
    assert!(looks_like_jwt("a.b.c"));
    assert!(looks_like_jwt("a-_.b.")); // an unsigned token: still a JWT, refused later
    for not_jwt in [
        "olt_0123456789abcdefghijABCDEFGHIJ-_0123456789",
        "",
        "a.b",
        "a.b.c.d",
        ".b.c",
        "a..c",
        "a.b+.c",
        "a.b.c=",
        "a b.c.d",
    ] {
        assert!(!looks_like_jwt(not_jwt), "{not_jwt:?}");
    }
}

#[test]
fn errors_and_debug_output_never_show_tokens_or_secrets() {
    let verifier = JwtVerifier::new(Some(SECRET), Some(EC_PUBLIC)).unwrap();
    let debug = format!("{verifier:?}");
    assert_eq!(
        debug,
        "JwtVerifier { algorithms: [\"HS256\", \"ES256\"], .. }"
    );
    let secret = std::str::from_utf8(SECRET).unwrap();
    assert!(!debug.contains(secret));

    let settings = AuthSettings {
        jwt_hs256_secret: Some(secret.to_owned()),
        ..AuthSettings::default()
    };
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains(secret) && debug.contains("<redacted>"),
        "{debug}"
    );

    let tokens = [
        hs256(&claims("admin", "ops", NOW - 3600), SECRET),
        hs256(&claims("root", "ops", NOW + 600), SECRET),
        hs256(
            &claims("admin", "ops", NOW + 600),
            b"wrong wrong wrong wrong wrong wrong",
        ),
        rs256(&claims("admin", "ops", NOW + 600)),
        handmade(&json!({"alg": "<script>alert(1)</script>"}), &json!({}), ""),
    ];
    for token in tokens {
        let message = verifier.verify_at(&token, NOW).unwrap_err().to_string();
        for part in token.split('.').filter(|p| p.len() > 3) {
            assert!(!message.contains(part), "{message}");
        }
        assert!(!message.contains("script"), "{message}");
    }
}

#[test]
fn from_settings_names_the_key_and_the_file() {
    assert!(
        JwtVerifier::from_settings(&AuthSettings::default())
            .unwrap()
            .is_none()
    );
    let short = AuthSettings {
        jwt_hs256_secret: Some("too short".to_owned()),
        ..AuthSettings::default()
    };
    let err = JwtVerifier::from_settings(&short).unwrap_err().to_string();
    assert!(
        err.starts_with("`auth.jwt_hs256_secret`: an HS256 secret must be at least 32 bytes"),
        "{err}"
    );
    assert!(!err.contains("too short"), "never echoes the secret: {err}");

    let missing = AuthSettings {
        jwt_public_key_file: Some("/nonexistent/jwt.pem".into()),
        ..AuthSettings::default()
    };
    let err = JwtVerifier::from_settings(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("`auth.jwt_public_key_file`: cannot read `/nonexistent/jwt.pem`"),
        "{err}"
    );

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/auth/testdata");
    let private = AuthSettings {
        jwt_public_key_file: Some(dir.join("rsa_private.pem")),
        ..AuthSettings::default()
    };
    let err = JwtVerifier::from_settings(&private)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rsa_private.pem` holds a private key"),
        "{err}"
    );

    let both = AuthSettings {
        jwt_hs256_secret: Some(std::str::from_utf8(SECRET).unwrap().to_owned()),
        jwt_public_key_file: Some(dir.join("ec_public.pem")),
        ..AuthSettings::default()
    };
    let verifier = JwtVerifier::from_settings(&both).unwrap().unwrap();
    assert_eq!(verifier.algorithms(), ["HS256", "ES256"]);
}
