//! The plugin instances one engine uses: every source (built once) and every policy builder.

use std::collections::BTreeMap;

use crate::engine::EngineError;
use crate::model::GroupSettings;
use crate::registry::{PluginError, PolicyBuilder, Registry};
use crate::source::AvailabilitySource;

/// What one source accepts and declares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceInfo<'a> {
    /// Its name.
    pub name: &'a str,
    /// The events it accepts.
    pub events: Vec<&'a str>,
    /// The reason codes its blocks carry (SPEC R14).
    pub reason_codes: Vec<&'a str>,
    /// The per-group settings it reads: key and summary.
    pub group_settings: Vec<(&'static str, &'static str)>,
}

/// The sources (built once per engine, sorted by name) and policy builders an engine uses.
#[derive(Default)]
pub struct Plugins {
    pub(crate) sources: Vec<(String, Box<dyn AvailabilitySource>)>,
    pub(crate) policies: BTreeMap<String, PolicyBuilder>,
}

impl Plugins {
    /// Nothing registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every plugin of `registry`; each source is built with `settings(name)`
    /// (`Value::Null` = its defaults).
    pub fn from_registry(
        registry: &Registry,
        settings: impl Fn(&str) -> serde_json::Value,
    ) -> Result<Self, PluginError> {
        let mut plugins = Self::new();
        for source in registry.sources() {
            plugins.add_source(source.name, (source.build)(&settings(source.name))?);
        }
        for policy in registry.policies() {
            plugins.add_policy(policy.name, policy.build);
        }
        plugins.check_group_setting_keys()?;
        Ok(plugins)
    }

    /// Refuses two sources that declare the same group setting: its values would be read
    /// by both with different meanings.
    pub fn check_group_setting_keys(&self) -> Result<(), PluginError> {
        let declared = self.group_settings();
        match declared.windows(2).find(|pair| pair[0].key == pair[1].key) {
            Some(pair) => Err(PluginError::Duplicate {
                kind: "group setting",
                name: pair[0].key,
            }),
            None => Ok(()),
        }
    }

    /// Adds (or replaces) a source instance under `name`.
    pub fn add_source(&mut self, name: &str, source: Box<dyn AvailabilitySource>) -> &mut Self {
        self.sources.retain(|(n, _)| n != name);
        self.sources.push((name.to_owned(), source));
        self.sources.sort_by(|a, b| a.0.cmp(&b.0));
        self
    }

    /// Adds (or replaces) a policy builder under `name`.
    pub fn add_policy(&mut self, name: &str, build: PolicyBuilder) -> &mut Self {
        self.policies.insert(name.to_owned(), build);
        self
    }

    /// Adds the six built-in policies of `openline-core`.
    pub fn with_builtin_policies(mut self) -> Result<Self, PluginError> {
        for policy in Registry::collect()?.policies() {
            self.add_policy(policy.name, policy.build);
        }
        Ok(self)
    }

    /// What each source accepts and declares, sorted by name (for `GET /v1/plugins` and
    /// `openline plugins`).
    pub fn describe_sources(&self) -> Vec<SourceInfo<'_>> {
        self.sources
            .iter()
            .map(|(name, source)| SourceInfo {
                name,
                events: source.events(),
                reason_codes: source.reason_codes().iter().map(|c| c.as_str()).collect(),
                group_settings: source
                    .group_settings()
                    .iter()
                    .map(|g| (g.key, g.summary))
                    .collect(),
            })
            .collect()
    }

    /// Whether an agent's own credential may report `event` of `source` for itself (SPEC
    /// R35d); `None` when no source has that name.
    pub fn agent_may_report(&self, source: &str, event: &str) -> Option<bool> {
        self.sources
            .iter()
            .find(|(name, _)| name == source)
            .map(|(_, found)| found.agent_may_report(event))
    }

    /// Source names, sorted.
    pub fn source_names(&self) -> Vec<&str> {
        self.sources.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Policy names, sorted.
    pub fn policy_names(&self) -> Vec<&str> {
        self.policies.keys().map(String::as_str).collect()
    }

    /// Every per-group setting the sources declare, sorted by key.
    pub fn group_settings(&self) -> Vec<&crate::source::GroupSetting> {
        let mut declared: Vec<_> = self
            .sources
            .iter()
            .flat_map(|(_, s)| s.group_settings())
            .collect();
        declared.sort_by_key(|setting| setting.key);
        declared
    }

    /// Checks a group's settings against the sources' declarations: every key must be
    /// declared by some source and its value accepted by that source (SPEC R8, R20).
    pub fn check_group_settings(&self, settings: &GroupSettings) -> Result<(), EngineError> {
        let declared = self.group_settings();
        for (key, value) in settings.iter() {
            let Some(setting) = declared.iter().find(|s| s.key == key) else {
                let valid: Vec<&str> = declared.iter().map(|s| s.key).collect();
                return Err(EngineError::Invalid(format!(
                    "unknown group setting `{key}`; valid: {}",
                    if valid.is_empty() {
                        "none".to_owned()
                    } else {
                        valid.join(", ")
                    }
                )));
            };
            (setting.check)(value)
                .map_err(|message| EngineError::Invalid(format!("`{key}`: {message}")))?;
        }
        Ok(())
    }

    pub(crate) fn source_index(&self, name: &str) -> Option<usize> {
        self.sources.iter().position(|(n, _)| n == name)
    }
}
