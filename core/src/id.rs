//! Validated ids: an agent's, a channel's, a conversation's. Each is its own type, so one
//! cannot be passed where another is expected, and each is checked once, where it is made
//! (a request, a log record): non-empty, at most [`MAX_ID_LEN`] characters, no control
//! characters. Cloning is cheap (a shared string).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The longest id accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Why a text is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Empty or only white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_ID_LEN`] characters.
    #[error("must be at most {MAX_ID_LEN} characters")]
    TooLong,
    /// Contains a control character (e.g. a newline).
    #[error("must not contain control characters")]
    Control,
}

/// Checks `text` against the rules every id follows.
pub fn check(text: &str) -> Result<(), IdError> {
    // One pass: ids are checked on every request that names one.
    let (mut length, mut blank, mut control) = (0, true, false);
    for c in text.chars() {
        length += 1;
        blank &= c.is_whitespace();
        control |= c.is_control();
    }
    if blank {
        Err(IdError::Empty)
    } else if length > MAX_ID_LEN {
        Err(IdError::TooLong)
    } else if control {
        Err(IdError::Control)
    } else {
        Ok(())
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The id `text`, if it is a valid one.
            pub fn new(text: &str) -> Result<Self, IdError> {
                check(text)?;
                Ok(Self(text.into()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                Self::new(&text)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&text).map_err(|e| serde::de::Error::custom(format!("an id {e}")))
            }
        }
    };
}

id_type! {
    /// An agent's id, as used in the API.
    AgentId
}

id_type! {
    /// A channel's id, as used in the API.
    ChannelId
}

id_type! {
    /// A conversation's id, as used in the API.
    ConversationId
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn r20_ids_are_checked_where_they_are_made() {
        assert_eq!(AgentId::new("alice").unwrap().as_str(), "alice");
        assert_eq!(AgentId::new(" "), Err(IdError::Empty));
        assert_eq!(
            ChannelId::new(&"x".repeat(MAX_ID_LEN)).map(|c| c.len()),
            Ok(MAX_ID_LEN)
        );
        assert_eq!(
            ChannelId::new(&"x".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong)
        );
        assert_eq!(ConversationId::new("a\nb"), Err(IdError::Control));
        assert_eq!(
            AgentId::new(" \t\n"),
            Err(IdError::Empty),
            "white space only"
        );
        assert_eq!(AgentId::new(""), Err(IdError::Empty));
        let parsed: Result<AgentId, _> = serde_json::from_str("\"\"");
        assert_eq!(parsed.unwrap_err().to_string(), "an id must not be empty");
        let alice: AgentId = serde_json::from_str("\"alice\"").unwrap();
        assert_eq!(serde_json::to_string(&alice).unwrap(), "\"alice\"");
        assert_eq!(format!("{alice} {alice:?}"), "alice \"alice\"");
    }
}
