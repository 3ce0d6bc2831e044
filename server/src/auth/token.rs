//! API tokens (SPEC R25): a name, a [`Role`], an agent id for the agent role, and a random
//! secret that is shown once and stored only as a hash.
//!
//! # Secrets and their hash
//! A secret is [`SECRET_PREFIX`] followed by 256 bits from the operating system's CSPRNG in
//! URL-safe base64 without padding (43 characters): recognisable in logs and by secret
//! scanners, and safe in a header, a URL or a shell without quoting.
//!
//! The store keeps only SHA-256 of the whole secret ([`hash_secret`]). Password hashes
//! (Argon2, bcrypt) are slow on purpose to make guessing a *low-entropy* password from its
//! hash expensive; a 256-bit random secret cannot be guessed at any speed, so a slow hash
//! would only cost time on every request. A plain hash still means a copy of the database
//! (a backup, a replica) lets no one authenticate: the secret cannot be recovered from it.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use openline_core::Timestamp;
use openline_core::id::{AgentId, IdError};
use sha2::{Digest as _, Sha256};

/// What a token may do. Names in JSON, TOML and the CLI are the lower-case ones.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including tokens and the clock.
    Admin,
    /// Every read, the event stream, some channel settings, transfer and close.
    Supervisor,
    /// Signals and conversations on behalf of any agent, every read; no settings.
    Integration,
    /// One agent (the token's agent id) acting for itself.
    Agent,
}

impl Role {
    /// Every role, in the order the documentation lists them.
    pub const ALL: [Self; 4] = [
        Self::Admin,
        Self::Supervisor,
        Self::Integration,
        Self::Agent,
    ];

    /// The role's name: `admin`, `supervisor`, `integration` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
            Self::Integration => "integration",
            Self::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = TokenError;

    /// The role named `text` exactly (lower case), or [`TokenError::UnknownRole`].
    fn from_str(text: &str) -> Result<Self, TokenError> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| TokenError::UnknownRole(text.to_owned()))
    }
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Its unique name (what audit entries name as `by`).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The agent it acts as: set exactly when `role` is [`Role::Agent`].
    #[schema(value_type = Option<String>)]
    pub agent: Option<AgentId>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Why a token cannot be created as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The name breaks [`check_name`]'s rules.
    #[error(
        "invalid token name `{0}`: use 1 to {MAX_NAME_LEN} characters among A-Z, a-z, 0-9, `.`, `_` and `-`"
    )]
    InvalidName(String),
    /// No such role.
    #[error("unknown role `{0}`; roles: admin, supervisor, integration, agent")]
    UnknownRole(String),
    /// The agent role without an agent id.
    #[error("a token of role `agent` needs the agent id it acts as")]
    AgentRequired,
    /// An agent id with another role than `agent`.
    #[error("only a token of role `agent` has an agent id (this one is `{0}`)")]
    AgentNotAllowed(Role),
    /// The agent id is not a valid one.
    #[error("invalid agent id: {0}")]
    InvalidAgent(IdError),
    /// The name is how openline records a caller without a token.
    #[error(
        "the token name `{0}` is reserved: openline records its own callers by it (`local`, `anonymous`, `cli`, `config`); choose another name"
    )]
    ReservedName(String),
    /// A live token already has this name.
    #[error("a token named `{0}` exists already; revoke it first or choose another name")]
    NameTaken(String),
}

/// The longest token name accepted, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// What every secret starts with.
pub const SECRET_PREFIX: &str = "olt_";

/// The names openline records its own callers by (SPEC R28): the unauthenticated caller of
/// local mode and of `auth.mode = "none"`, the command line, the config file. No token may
/// take one, so that `by` never confuses a token with them.
pub const RESERVED_NAMES: [&str; 4] = ["local", "anonymous", "cli", "config"];

/// Checks a token name: 1 to [`MAX_NAME_LEN`] characters among ASCII letters, digits, `.`,
/// `_` and `-` (safe in a URL path, a log line and a shell), none of [`RESERVED_NAMES`].
pub fn check_name(name: &str) -> Result<(), TokenError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !((1..=MAX_NAME_LEN).contains(&name.len()) && name.chars().all(allowed)) {
        return Err(TokenError::InvalidName(name.to_owned()));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(TokenError::ReservedName(name.to_owned()));
    }
    Ok(())
}

/// Checks a token's name, and that `agent` is given exactly for [`Role::Agent`] and is a
/// valid agent id; the agent id.
pub fn check(name: &str, role: Role, agent: Option<&str>) -> Result<Option<AgentId>, TokenError> {
    check_name(name)?;
    match (role, agent) {
        (Role::Agent, None) => Err(TokenError::AgentRequired),
        (Role::Agent, Some(agent)) => AgentId::new(agent)
            .map(Some)
            .map_err(TokenError::InvalidAgent),
        (_, None) => Ok(None),
        (role, Some(_)) => Err(TokenError::AgentNotAllowed(role)),
    }
}

/// A new secret: [`SECRET_PREFIX`] and 256 random bits from the OS CSPRNG, URL-safe base64.
/// Fails only when the operating system cannot provide random bytes.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    let mut secret = String::with_capacity(SECRET_PREFIX.len() + 43);
    secret.push_str(SECRET_PREFIX);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut secret);
    Ok(secret)
}

/// What the store keeps of `secret`: SHA-256 of its UTF-8 bytes, as 64 lower-case hex digits
/// (see the module documentation for why a fast hash is the right one).
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
            assert_eq!(
                serde_json::from_value::<Role>(serde_json::json!(role.as_str())).unwrap(),
                role
            );
        }
        assert_eq!(
            "Admin".parse::<Role>(),
            Err(TokenError::UnknownRole("Admin".into()))
        );
    }

    #[test]
    fn names_follow_the_rules() {
        for good in ["a", "ci-bot_2.prod", &"x".repeat(MAX_NAME_LEN)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "é", "a/b", "a\n", &"x".repeat(MAX_NAME_LEN + 1)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        // SPEC R28: openline's own callers keep their names.
        for reserved in RESERVED_NAMES {
            assert_eq!(
                check_name(reserved),
                Err(TokenError::ReservedName(reserved.into()))
            );
        }
    }

    #[test]
    fn the_agent_role_and_only_it_has_an_agent() {
        assert_eq!(
            check("n", Role::Agent, Some("alice")),
            Ok(Some(AgentId::new("alice").unwrap()))
        );
        assert_eq!(
            check("n", Role::Agent, None),
            Err(TokenError::AgentRequired)
        );
        assert!(matches!(
            check("n", Role::Agent, Some(" ")),
            Err(TokenError::InvalidAgent(_))
        ));
        for role in [Role::Admin, Role::Supervisor, Role::Integration] {
            assert_eq!(check("n", role, None), Ok(None));
            assert_eq!(
                check("n", role, Some("alice")),
                Err(TokenError::AgentNotAllowed(role))
            );
        }
    }

    #[test]
    fn secrets_are_prefixed_url_safe_256_bit_and_distinct() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        let body = a.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(body.len(), 43);
        assert!(
            body.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap();
        assert_eq!(decoded.len(), 32);
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(hash_secret("olt_a"), hash_secret("olt_b"));
    }
}
