//! Test worlds: a fresh server already holding the agents and the channel a test starts from.

use serde_json::Value;

use crate::server::Server;

impl Server {
    /// Creates `agents` in `groups`, then puts `channel` with exactly those agents, in this
    /// order, as its queue ([`Server::put_channel`] defaults, changed by `overrides`).
    pub fn team(&self, channel: &str, agents: &[&str], groups: &[&str], overrides: Value) {
        for agent in agents {
            self.put_agent(agent, groups);
        }
        self.put_channel(channel, agents, overrides);
    }
}

/// A fresh default server (see [`Server::start`]) where `agents`, in `groups`, form the queue
/// of channel `web` (see [`Server::team`]).
pub fn team_on_web(agents: &[&str], groups: &[&str], overrides: Value) -> Server {
    let s = Server::start();
    s.team("web", agents, groups, overrides);
    s
}

/// A fresh default server where `agents` are clocked in under WTM (see [`Server::working`]) and
/// form the queue of channel `web` ([`Server::put_channel`] defaults, changed by `overrides`).
pub fn clocked_in_on_web(agents: &[&str], overrides: Value) -> Server {
    let s = Server::start();
    s.working(agents);
    s.put_channel("web", agents, overrides);
    s
}
