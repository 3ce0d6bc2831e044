//! Why the engine refused a command. A refused command changed nothing.

/// A refused command; the message names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The named thing does not exist (HTTP 404).
    #[error("{what} `{id}` not found")]
    NotFound {
        /// "agent", "channel", "conversation".
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The input is invalid (HTTP 400); the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// One field of the input is invalid (HTTP 400), e.g. a channel's `policy`.
    #[error("`{field}`: {message}")]
    InvalidField {
        /// The field's name as the API and the config file spell it.
        field: &'static str,
        /// What is wrong and what is valid.
        message: String,
    },
    /// The transition is not allowed now (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// Item `index` of a batch was refused (the batch changed nothing, SPEC R20).
    #[error("signal [{index}]: {error}")]
    InBatch {
        /// The refused item's position in the batch.
        index: usize,
        /// Why it was refused.
        error: Box<EngineError>,
    },
}

impl EngineError {
    /// `what` (e.g. "channel") called `id` does not exist.
    pub fn not_found(what: &'static str, id: &str) -> Self {
        Self::NotFound {
            what,
            id: id.to_owned(),
        }
    }

    /// What kind of refusal this is, looking through [`EngineError::InBatch`].
    pub fn root(&self) -> &Self {
        match self {
            Self::InBatch { error, .. } => error.root(),
            other => other,
        }
    }

    /// `field` is invalid: `message` says why.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }
}

/// `Result` with [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
