//! Who a change comes from (SPEC R28): the caller named in conversation history entries and
//! in the command log, and, for a change to settings, the audit entry written with it.

use std::sync::Arc;

use openline_core::Timestamp;

use crate::store::Record;
use crate::store::audit::AuditEntry;

/// The origin of a command or clock change.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    by: Option<Arc<str>>,
    audit: Option<Audit>,
}

#[derive(Debug, Clone)]
struct Audit {
    action: &'static str,
    target: String,
    change: serde_json::Value,
}

/// Who the config file's changes are recorded as made by.
pub const CONFIG_ACTOR: &str = "config";

impl Origin {
    /// The router itself (deadlines, routing, replays of unattributed records): nobody.
    pub fn router() -> Self {
        Self::default()
    }

    /// A request of the caller recorded as `name` (a token's name, `jwt:<subject>`, `local`).
    pub fn caller(name: &str) -> Self {
        Self {
            by: Some(name.into()),
            audit: None,
        }
    }

    /// The config file's `[[channels]]`, applied at start.
    pub fn config() -> Self {
        Self::caller(CONFIG_ACTOR)
    }

    /// The same origin, making a settings change to record in the audit trail: `action`
    /// (`thing.verb`) on `target`, `change` as asked.
    pub fn audited(
        self,
        action: &'static str,
        target: impl Into<String>,
        change: serde_json::Value,
    ) -> Self {
        Self {
            audit: Some(Audit {
                action,
                target: target.into(),
                change,
            }),
            ..self
        }
    }

    /// The caller's name, if a caller made it.
    pub fn by(&self) -> Option<&str> {
        self.by.as_deref()
    }

    /// The caller's name, shared (as the log record keeps it).
    pub(crate) fn by_shared(&self) -> Option<Arc<str>> {
        self.by.clone()
    }

    /// The audit record of a change made at `at`, if it is a settings change.
    pub(crate) fn audit_at(&self, at: Timestamp) -> Option<Record> {
        let audit = self.audit.as_ref()?;
        Some(Record::Audit(Box::new(AuditEntry::new(
            at,
            self.by().unwrap_or_default(),
            audit.action,
            audit.target.clone(),
            audit.change.clone(),
        ))))
    }
}
