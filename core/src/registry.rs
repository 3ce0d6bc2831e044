//! The plugin registry: sources and policies register themselves with
//! `inventory::submit!` as const descriptors; the registry collects them, sorts them by name
//! and rejects duplicates. Unknown names fail with the list of registered ones.

use std::collections::BTreeMap;

use crate::policy::RoutingPolicy;
use crate::source::AvailabilitySource;

/// Builds a source from its `[plugins.<name>]` settings (`Value::Null` when absent).
pub type SourceBuilder = fn(&serde_json::Value) -> Result<Box<dyn AvailabilitySource>, PluginError>;
/// Builds a policy for one channel from its settings (`Value::Null` when absent).
pub type PolicyBuilder = fn(&serde_json::Value) -> Result<Box<dyn RoutingPolicy>, PluginError>;

/// A registered availability source.
#[derive(Debug)]
pub struct SourceDescriptor {
    /// Unique name, as channels and signals refer to it.
    pub name: &'static str,
    /// One line saying what the source knows.
    pub summary: &'static str,
    /// Whether the source can ever say `grant` or `online`. A channel that checks
    /// availability with only sources that cannot routes to nobody (SPEC R3), which
    /// `openline check` warns about.
    pub can_make_available: bool,
    /// Constructor.
    pub build: SourceBuilder,
}

/// A registered routing policy.
#[derive(Debug)]
pub struct PolicyDescriptor {
    /// Unique name, as channels refer to it.
    pub name: &'static str,
    /// One line saying how it picks.
    pub summary: &'static str,
    /// Constructor.
    pub build: PolicyBuilder,
}

inventory::collect!(SourceDescriptor);
inventory::collect!(PolicyDescriptor);

/// Why a plugin could not be found or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// No plugin of that kind has this name.
    #[error("unknown {kind} `{requested}`; registered: {}", available.join(", "))]
    Unknown {
        /// "source" or "policy".
        kind: &'static str,
        /// The name asked for.
        requested: String,
        /// Every registered name, sorted.
        available: Vec<&'static str>,
    },
    /// Two plugins of the same kind claim one name.
    #[error("{kind} `{name}` is registered twice")]
    Duplicate {
        /// "source" or "policy".
        kind: &'static str,
        /// The contested name.
        name: &'static str,
    },
    /// The plugin refused its settings.
    #[error("invalid settings for {plugin}: {}{message}", key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
    Settings {
        /// The plugin's name.
        plugin: String,
        /// The key at fault inside the plugin's table (e.g. `heartbeat_timeout`), if one is.
        key: Option<String>,
        /// What is wrong and what is valid.
        message: String,
    },
}

impl PluginError {
    /// A settings error for `plugin` as a whole.
    pub fn settings(plugin: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Settings {
            plugin: plugin.into(),
            key: None,
            message: message.to_string(),
        }
    }
}

/// Deserializes a plugin's settings (`null` = all defaults); unknown keys are refused when
/// the settings type says `#[serde(deny_unknown_fields)]`. An error names the key at fault.
pub fn settings<T: serde::de::DeserializeOwned + Default>(
    plugin: &str,
    value: &serde_json::Value,
) -> Result<T, PluginError> {
    if value.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        PluginError::Settings {
            plugin: plugin.to_owned(),
            key: (path != ".").then_some(path),
            message: e.into_inner().to_string(),
        }
    })
}

/// The registered plugins, sorted by name.
#[derive(Debug, Clone)]
pub struct Registry {
    sources: BTreeMap<&'static str, &'static SourceDescriptor>,
    policies: BTreeMap<&'static str, &'static PolicyDescriptor>,
}

impl Registry {
    /// Everything registered with `inventory` in this binary. Fails on a duplicate name.
    pub fn collect() -> Result<Self, PluginError> {
        Self::from_descriptors(
            inventory::iter::<SourceDescriptor>,
            inventory::iter::<PolicyDescriptor>,
        )
    }

    /// A registry of exactly these descriptors (tests, embedding). Fails on a duplicate name.
    pub fn from_descriptors(
        sources: impl IntoIterator<Item = &'static SourceDescriptor>,
        policies: impl IntoIterator<Item = &'static PolicyDescriptor>,
    ) -> Result<Self, PluginError> {
        let mut registry = Self {
            sources: BTreeMap::new(),
            policies: BTreeMap::new(),
        };
        for source in sources {
            if registry.sources.insert(source.name, source).is_some() {
                return Err(PluginError::Duplicate {
                    kind: "source",
                    name: source.name,
                });
            }
        }
        for policy in policies {
            if registry.policies.insert(policy.name, policy).is_some() {
                return Err(PluginError::Duplicate {
                    kind: "policy",
                    name: policy.name,
                });
            }
        }
        Ok(registry)
    }

    /// Registered source names, sorted.
    pub fn source_names(&self) -> Vec<&'static str> {
        self.sources.keys().copied().collect()
    }

    /// Whether `name` is a registered source that can never make an agent available.
    pub fn only_blocks(&self, name: &str) -> bool {
        self.sources
            .get(name)
            .is_some_and(|s| !s.can_make_available)
    }

    /// Registered policy names, sorted.
    pub fn policy_names(&self) -> Vec<&'static str> {
        self.policies.keys().copied().collect()
    }

    /// The source called `name`, or an error listing the registered ones.
    pub fn source(&self, name: &str) -> Result<&'static SourceDescriptor, PluginError> {
        self.sources
            .get(name)
            .copied()
            .ok_or_else(|| PluginError::Unknown {
                kind: "source",
                requested: name.to_owned(),
                available: self.source_names(),
            })
    }

    /// The policy called `name`, or an error listing the registered ones.
    pub fn policy(&self, name: &str) -> Result<&'static PolicyDescriptor, PluginError> {
        self.policies
            .get(name)
            .copied()
            .ok_or_else(|| PluginError::Unknown {
                kind: "policy",
                requested: name.to_owned(),
                available: self.policy_names(),
            })
    }

    /// Every registered source descriptor, sorted by name.
    pub fn sources(&self) -> impl Iterator<Item = &'static SourceDescriptor> + '_ {
        self.sources.values().copied()
    }

    /// Every registered policy descriptor, sorted by name.
    pub fn policies(&self) -> impl Iterator<Item = &'static PolicyDescriptor> + '_ {
        self.policies.values().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_policy(_: &serde_json::Value) -> Result<Box<dyn RoutingPolicy>, PluginError> {
        Err(PluginError::settings("fixture", "not buildable"))
    }

    static A: PolicyDescriptor = PolicyDescriptor {
        name: "a",
        summary: "",
        build: no_policy,
    };
    static A_AGAIN: PolicyDescriptor = PolicyDescriptor {
        name: "a",
        summary: "",
        build: no_policy,
    };
    static B: PolicyDescriptor = PolicyDescriptor {
        name: "b",
        summary: "",
        build: no_policy,
    };

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Timeouts {
        #[serde(default)]
        idle: u32,
    }

    #[test]
    fn settings_errors_name_the_key_at_fault_or_none_for_the_whole_table() {
        let err = settings::<Timeouts>("p", &serde_json::json!({"idle": "x"})).unwrap_err();
        let PluginError::Settings { key, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(key.as_deref(), Some("idle"));
        assert!(
            err.to_string()
                .starts_with("invalid settings for p: `idle`: "),
            "{err}"
        );
        let err = settings::<Timeouts>("p", &serde_json::json!("x")).unwrap_err();
        let PluginError::Settings { key, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(key.as_deref(), None, "{err}");
        assert!(settings::<Timeouts>("p", &serde_json::Value::Null).is_ok());
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let err = Registry::from_descriptors([], [&A, &A_AGAIN]).unwrap_err();
        assert_eq!(
            err,
            PluginError::Duplicate {
                kind: "policy",
                name: "a"
            }
        );
    }

    #[test]
    fn unknown_name_lists_the_registered_ones_sorted() {
        let registry = Registry::from_descriptors([], [&B, &A]).unwrap();
        let err = registry.policy("c").unwrap_err();
        assert_eq!(err.to_string(), "unknown policy `c`; registered: a, b");
    }

    #[test]
    fn builtin_policies_are_registered_by_name() {
        let registry = Registry::collect().unwrap();
        assert_eq!(
            registry.policy_names(),
            [
                "all_at_once",
                "evenly",
                "least_busy",
                "longest_idle",
                "round_robin",
                "strict_order"
            ]
        );
    }
}
