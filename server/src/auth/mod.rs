//! Authentication (SPEC R25–R27): the API tokens' rules and secrets ([`token`]). Their
//! storage is [`crate::store::Store`]'s (`store/tokens.rs`).

pub mod token;
