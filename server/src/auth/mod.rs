//! Authentication and authorization (SPEC R25–R27): the API tokens' rules and secrets
//! ([`token`]; their storage is [`crate::store::Store`]'s, `store/tokens.rs`) and who may do
//! what ([`roles`]); JSON Web Tokens signed by an identity provider ([`jwt`]).

pub mod jwt;
pub mod roles;
pub mod token;

pub use roles::{Caller, CredentialKind, Decision, Operation, decide};
pub use token::Role;
