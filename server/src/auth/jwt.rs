//! JSON Web Tokens (SPEC R25): a bearer credential signed by an identity provider, accepted
//! when it verifies with a key from the configuration.
//!
//! # What is promised
//! - **The algorithm is pinned by the configuration**, never taken from the token: an HS256
//!   secret (`auth.jwt_hs256_secret`) accepts HS256 only; a public key
//!   (`auth.jwt_public_key_file`) accepts RS256 for an RSA key or ES256 for an EC P-256 key,
//!   nothing else. A token whose header names another algorithm — `none`, HS256 when only a
//!   public key is configured (the classic "public key as HMAC secret" confusion), RS256
//!   when only a secret is — is refused before any signature is checked.
//! - **`exp` is required** and enforced against the system's wall clock with
//!   [`LEEWAY_SECONDS`] of tolerance for clock skew; `nbf`, when present, likewise.
//! - **`role` and `sub` are required**: `role` is one of `admin`, `supervisor`,
//!   `integration`, `agent`; `sub` is the agent id for the agent role (checked as one) and the
//!   caller's name otherwise (the same rules as an id: not blank, no control characters,
//!   at most [`openline_core::id::MAX_ID_LEN`] characters). `aud` and `iss` are not checked.
//! - Neither the secret nor a token ever appears in a `Debug` output or an error message.
//!
//! The server's manual clock (SPEC R18) does not apply here: a token's lifetime is a matter
//! between the identity provider and the wall clock.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openline_core::id::{self, AgentId};
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::traits::PublicKeyParts as _;

use super::roles::{Caller, CredentialKind};
use super::token::Role;
use crate::config::{AuthSettings, ConfigError};

/// The shortest HS256 secret accepted, in bytes: as long as the HMAC-SHA256 output, so the
/// secret is not the weak point (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// The smallest RSA key accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// How far past `exp` (or before `nbf`) a token is still accepted, in seconds: clock skew
/// between the identity provider and this server.
pub const LEEWAY_SECONDS: i64 = 30;

/// The configuration key of the HS256 secret.
const SECRET_KEY: &str = "auth.jwt_hs256_secret";
/// The configuration key of the public key file.
const PUBLIC_KEY_KEY: &str = "auth.jwt_public_key_file";

/// Why a JWT is refused. The messages are meant for a 401 body: they say what is wrong
/// without echoing the token or any secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three dot-separated base64url parts with a JSON header and payload.
    #[error("the bearer credential is not a well-formed JWT")]
    Malformed,
    /// The header names an algorithm this server's configuration does not accept.
    #[error("JWT algorithm {alg} is not accepted here (accepted: {accepted})")]
    AlgorithmNotAllowed {
        /// The header's `alg`, quoted, or a placeholder when it is not a plain short name.
        alg: String,
        /// The algorithms the configuration accepts, e.g. `HS256, RS256`.
        accepted: String,
    },
    /// The signature does not verify with the configured key.
    #[error("the JWT's signature does not verify")]
    BadSignature,
    /// A required claim is absent.
    #[error("the JWT has no `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim is present but invalid.
    #[error("the JWT's `{claim}` claim {reason}")]
    InvalidClaim {
        /// The claim, e.g. `role`.
        claim: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `exp` is more than [`LEEWAY_SECONDS`] in the past.
    #[error("the JWT has expired")]
    Expired,
    /// `nbf` is more than [`LEEWAY_SECONDS`] in the future.
    #[error("the JWT is not valid yet (`nbf` is in the future)")]
    NotYetValid,
}

/// Why a verifier cannot be built from the keys given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtKeyError {
    /// Neither a secret nor a public key.
    #[error("no JWT key given")]
    NoKey,
    /// The HS256 secret is shorter than [`MIN_SECRET_BYTES`].
    #[error(
        "an HS256 secret must be at least {MIN_SECRET_BYTES} bytes long (this one has {0}); \
         generate one with `openssl rand -base64 48`"
    )]
    SecretTooShort(usize),
    /// The PEM holds a private key.
    #[error(
        "holds a private key; give the server only the public key \
         (`openssl pkey -in PRIVATE.pem -pubout`)"
    )]
    PrivateKey,
    /// The PEM is neither an RSA public key nor an EC P-256 public key.
    #[error(
        "is not a PEM public key for RS256 (RSA) or ES256 (EC P-256): expected \
         `-----BEGIN PUBLIC KEY-----` or `-----BEGIN RSA PUBLIC KEY-----`"
    )]
    NotAPublicKey,
    /// An RSA key below [`MIN_RSA_BITS`].
    #[error("is an RSA key of {0} bits; at least {MIN_RSA_BITS} are required")]
    RsaKeyTooSmall(usize),
}

/// A configured key and the one algorithm it accepts.
struct PinnedKey {
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

impl PinnedKey {
    fn new(algorithm: Algorithm, key: DecodingKey) -> Self {
        let mut validation = Validation::new(algorithm);
        // Time and claims are checked by `JwtVerifier::verify_at` against its `now`, with
        // messages of its own; the library checks the algorithm and the signature only.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Self {
            algorithm,
            key,
            validation,
        }
    }
}

/// Verifies JWTs with the keys of `[auth]` and turns them into [`Caller`]s (see the module
/// documentation for what is checked). Cheap to share: build it once at start.
pub struct JwtVerifier {
    /// One entry per configured key, at most one per algorithm.
    keys: Vec<PinnedKey>,
}

impl fmt::Debug for JwtVerifier {
    /// The accepted algorithms only: never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.algorithms())
            .finish_non_exhaustive()
    }
}

/// The claims read from a verified token; each is checked by hand so that a wrong type
/// gets a message naming the claim.
#[derive(serde::Deserialize)]
struct Claims {
    exp: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
    sub: Option<serde_json::Value>,
    role: Option<serde_json::Value>,
}

/// The part of the header read before choosing a key.
#[derive(serde::Deserialize)]
struct RawHeader {
    alg: String,
}

impl JwtVerifier {
    /// A verifier for an HS256 `hs256_secret` (at least [`MIN_SECRET_BYTES`] bytes) and/or a
    /// PEM public key `public_key_pem` (RSA of at least [`MIN_RSA_BITS`] bits → RS256, else EC
    /// P-256 → ES256); at least one of the two.
    pub fn new(
        hs256_secret: Option<&[u8]>,
        public_key_pem: Option<&[u8]>,
    ) -> Result<Self, JwtKeyError> {
        let mut keys = Vec::with_capacity(2);
        if let Some(secret) = hs256_secret {
            keys.push(hs256_key(secret)?);
        }
        if let Some(pem) = public_key_pem {
            keys.push(public_key(pem)?);
        }
        if keys.is_empty() {
            return Err(JwtKeyError::NoKey);
        }
        Ok(Self { keys })
    }

    /// The verifier `[auth]` configures, or `None` when it configures no JWT key. The public
    /// key file is read here (a relative path was made relative to the configuration file's
    /// folder when loading). A refusal names the key and, for the file, its path.
    pub fn from_settings(auth: &AuthSettings) -> Result<Option<Self>, ConfigError> {
        let secret = match &auth.jwt_hs256_secret {
            Some(secret) => {
                Some(hs256_key(secret.as_bytes()).map_err(|e| invalid(SECRET_KEY, e.to_string()))?)
            }
            None => None,
        };
        let public = match &auth.jwt_public_key_file {
            Some(path) => Some(read_public_key(path)?),
            None => None,
        };
        let keys: Vec<PinnedKey> = secret.into_iter().chain(public).collect();
        Ok((!keys.is_empty()).then_some(Self { keys }))
    }

    /// The algorithms accepted, in configuration order (`HS256`, then `RS256` or `ES256`).
    pub fn algorithms(&self) -> Vec<&'static str> {
        self.keys
            .iter()
            .map(|k| algorithm_name(k.algorithm))
            .collect()
    }

    /// The caller `token` speaks for, if it verifies now (the system's wall clock).
    pub fn verify(&self, token: &str) -> Result<Caller, JwtError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.verify_at(token, now)
    }

    /// [`verify`](Self::verify) at `now`, in seconds since the Unix epoch.
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Caller, JwtError> {
        if !looks_like_jwt(token) {
            return Err(JwtError::Malformed);
        }
        let alg = header_algorithm(token)?;
        let pinned = self
            .keys
            .iter()
            .find(|k| algorithm_name(k.algorithm) == alg)
            .ok_or_else(|| JwtError::AlgorithmNotAllowed {
                alg: shown_algorithm(&alg),
                accepted: self.algorithms().join(", "),
            })?;
        let claims = jsonwebtoken::decode::<Claims>(token, &pinned.key, &pinned.validation)
            .map_err(|e| decode_error(&e, || self.algorithms().join(", ")))?
            .claims;
        check_claims(claims, now)
    }
}

/// From when the server refuses `token`, a JWT that verified: the first whole second more
/// than [`LEEWAY_SECONDS`] past its `exp`, on the wall clock (its event streams end then,
/// SPEC R35c). `None` when its payload has no readable `exp`.
pub fn accepted_until(token: &str) -> Option<std::time::SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let until = numeric_date("exp", &claims.exp?)
        .ok()?
        .saturating_add(LEEWAY_SECONDS)
        .saturating_add(1);
    let since_epoch = std::time::Duration::from_secs(u64::try_from(until).unwrap_or(0));
    std::time::UNIX_EPOCH.checked_add(since_epoch)
}

/// True when `token` has the shape of a JWT (JWS compact serialization): three parts
/// separated by dots, each made of base64url characters, the first two non-empty. Says
/// nothing about validity; opaque tokens (`olt_…`) never have this shape.
pub fn looks_like_jwt(token: &str) -> bool {
    let base64url = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => {
            !header.is_empty()
                && !payload.is_empty()
                && base64url(header)
                && base64url(payload)
                && base64url(signature)
        }
        _ => false,
    }
}

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message,
    }
}

fn hs256_key(secret: &[u8]) -> Result<PinnedKey, JwtKeyError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(JwtKeyError::SecretTooShort(secret.len()));
    }
    let key = DecodingKey::from_secret(secret).map_err(|_| JwtKeyError::NoKey)?;
    Ok(PinnedKey::new(Algorithm::HS256, key))
}

/// Reads and checks the public key file, naming it in a refusal.
fn read_public_key(path: &Path) -> Result<PinnedKey, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| {
        invalid(
            PUBLIC_KEY_KEY,
            format!("cannot read `{}`: {e}", path.display()),
        )
    })?;
    public_key(&pem).map_err(|e| invalid(PUBLIC_KEY_KEY, format!("`{}` {e}", path.display())))
}

/// An RSA public key (RS256), else an EC P-256 public key (ES256).
fn public_key(pem: &[u8]) -> Result<PinnedKey, JwtKeyError> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("PRIVATE KEY-----") {
        return Err(JwtKeyError::PrivateKey);
    }
    if !text.contains("PUBLIC KEY-----") {
        return Err(JwtKeyError::NotAPublicKey);
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        // jsonwebtoken parses an RSA key only when verifying: parse it now, to refuse a bad
        // one at start.
        let der = key
            .try_get_as_bytes()
            .map_err(|_| JwtKeyError::NotAPublicKey)?;
        let parsed = rsa::PublicKey::from_pkcs1_der(der).map_err(|_| JwtKeyError::NotAPublicKey)?;
        let bits = parsed.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(JwtKeyError::RsaKeyTooSmall(bits));
        }
        return Ok(PinnedKey::new(Algorithm::RS256, key));
    }
    let key = DecodingKey::from_ec_pem(pem).map_err(|_| JwtKeyError::NotAPublicKey)?;
    // The ES256 verifier refuses a point that is not on P-256 (a P-384 key, say) when it is
    // built, before looking at the (empty) signature.
    jsonwebtoken::crypto::verify("", b"probe", &key, Algorithm::ES256)
        .map_err(|_| JwtKeyError::NotAPublicKey)?;
    Ok(PinnedKey::new(Algorithm::ES256, key))
}

/// The header's `alg`, read without trusting anything else in it.
fn header_algorithm(token: &str) -> Result<String, JwtError> {
    let encoded = token.split('.').next().ok_or(JwtError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| JwtError::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    Ok(header.alg)
}

/// `alg` as shown in an error: quoted when it is a plain short name, else a placeholder
/// (the header is the caller's text).
fn shown_algorithm(alg: &str) -> String {
    if !alg.is_empty() && alg.len() <= 16 && alg.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("`{alg}`")
    } else {
        "(unrecognised)".to_owned()
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        // Only the three above are ever pinned.
        _ => "other",
    }
}

/// What jsonwebtoken's refusal means for the caller.
fn decode_error(error: &jsonwebtoken::errors::Error, accepted: impl Fn() -> String) -> JwtError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidAlgorithmName => JwtError::Malformed,
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            JwtError::AlgorithmNotAllowed {
                alg: "(unrecognised)".to_owned(),
                accepted: accepted(),
            }
        }
        _ => JwtError::BadSignature,
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds since the epoch, fractions allowed), floored.
fn numeric_date(claim: &'static str, value: &serde_json::Value) -> Result<i64, JwtError> {
    let number = value.as_number().ok_or_else(|| JwtError::InvalidClaim {
        claim,
        reason: "is not a number of seconds since 1970".to_owned(),
    })?;
    match (number.as_i64(), number.as_f64()) {
        (Some(seconds), _) => Ok(seconds),
        // Saturating: a date beyond i64 is "never" (or "always", below).
        #[allow(clippy::cast_possible_truncation)]
        (None, Some(seconds)) => Ok(seconds.floor() as i64),
        (None, None) => Err(JwtError::InvalidClaim {
            claim,
            reason: "is not a number of seconds since 1970".to_owned(),
        }),
    }
}

fn check_claims(claims: Claims, now: i64) -> Result<Caller, JwtError> {
    let exp = claims.exp.ok_or(JwtError::MissingClaim("exp"))?;
    if numeric_date("exp", &exp)?.saturating_add(LEEWAY_SECONDS) < now {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = claims.nbf
        && numeric_date("nbf", &nbf)?.saturating_sub(LEEWAY_SECONDS) > now
    {
        return Err(JwtError::NotYetValid);
    }
    let role = claims.role.ok_or(JwtError::MissingClaim("role"))?;
    let role = role
        .as_str()
        .and_then(|r| r.parse::<Role>().ok())
        .ok_or_else(|| JwtError::InvalidClaim {
            claim: "role",
            reason: "is not one of admin, supervisor, integration, agent".to_owned(),
        })?;
    let sub = claims.sub.ok_or(JwtError::MissingClaim("sub"))?;
    let sub = sub.as_str().ok_or_else(|| JwtError::InvalidClaim {
        claim: "sub",
        reason: "is not a string".to_owned(),
    })?;
    let agent = if role == Role::Agent {
        let agent = AgentId::new(sub).map_err(|e| JwtError::InvalidClaim {
            claim: "sub",
            reason: format!("is not a valid agent id: it {e}"),
        })?;
        Some(agent)
    } else {
        id::check(sub).map_err(|e| JwtError::InvalidClaim {
            claim: "sub",
            reason: format!("is not a valid name: it {e}"),
        })?;
        None
    };
    Ok(Caller {
        name: sub.to_owned(),
        role,
        agent,
        kind: CredentialKind::Jwt,
    })
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
