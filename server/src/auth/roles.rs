//! Who may do what (SPEC R26), in one place: [`decide`] says, for a role and an endpoint,
//! whether the request may go on, and the [`Caller`]'s methods check the agent a request
//! acts for (an agent token speaks only for its own agent).
//!
//! | | admin | supervisor | integration | agent |
//! |---|---|---|---|---|
//! | reads (agents, groups, channels, queues, conversations, clock, plugins, metrics) | yes | yes | yes | itself, its availability, its own conversations |
//! | event stream | yes | yes | yes | its own events |
//! | signals | yes | – | any agent | itself |
//! | open, messages, accept, decline | yes | – | for any agent | accept/decline its offers, messages on what it holds |
//! | transfer, close | yes | yes | yes | – |
//! | channel `PATCH` of `check_availability`, `queue`, `max_chats` | yes | yes | – | – |
//! | other settings (agents, groups, channels), the clock | yes | – | – | – |
//! | tokens, audit | yes | – | – | – |

use openline_core::AgentId;

use super::token::Role;

/// An endpoint, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A read of anything that is not scoped to one agent (lists, channels, queues, groups,
    /// the clock, plugins, metrics).
    Read,
    /// A read about one agent (`/v1/agents/{agent}`, its availability, its conversations).
    ReadAgent,
    /// A read of one conversation, or of the conversation list.
    ReadConversations,
    /// The event stream.
    Events,
    /// `POST /v1/signals`.
    Signals,
    /// Opening a conversation.
    Open,
    /// A message in a conversation.
    Message,
    /// Accepting or declining an offer.
    Answer,
    /// Transferring or closing a conversation.
    TransferOrClose,
    /// `PATCH /v1/channels/{channel}`.
    PatchChannel,
    /// Any other settings change: agents, groups, channels (`PUT`), the clock.
    Settings,
    /// Tokens, the audit log.
    Admin,
    /// `GET /v1/whoami`.
    WhoAmI,
}

/// What [`decide`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may go on.
    Allow,
    /// The request may go on for the caller's own agent only: the handler checks the agent
    /// it acts for with the [`Caller`]'s methods.
    OwnAgent,
    /// 403 `forbidden`.
    Deny,
}

/// SPEC R26: may `role` call an endpoint of kind `operation`?
pub fn decide(role: Role, operation: Operation) -> Decision {
    use Decision::{Allow, Deny, OwnAgent};
    use Operation as Op;
    match (role, operation) {
        (_, Op::WhoAmI) | (Role::Admin, _) => Allow,
        (Role::Supervisor, Op::Read | Op::ReadAgent | Op::ReadConversations | Op::Events) => Allow,
        (Role::Supervisor, Op::TransferOrClose | Op::PatchChannel) => Allow,
        (Role::Supervisor, _) => Deny,
        (
            Role::Integration,
            Op::Read
            | Op::ReadAgent
            | Op::ReadConversations
            | Op::Events
            | Op::Signals
            | Op::Open
            | Op::Message
            | Op::Answer
            | Op::TransferOrClose,
        ) => Allow,
        (Role::Integration, _) => Deny,
        (
            Role::Agent,
            Op::ReadAgent
            | Op::ReadConversations
            | Op::Events
            | Op::Signals
            | Op::Message
            | Op::Answer,
        ) => OwnAgent,
        (Role::Agent, _) => Deny,
    }
}

/// The fields of a channel a supervisor may change with `PATCH` (SPEC R26).
pub const SUPERVISOR_CHANNEL_FIELDS: [&str; 3] = ["check_availability", "queue", "max_chats"];

/// Who is calling: the token's name (or the JWT's subject), its role and, for the agent
/// role, the one agent it speaks for. Handlers get it as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name, the JWT's subject, or the name of the unauthenticated caller (what
    /// `GET /v1/whoami` shows); see [`Caller::actor`] for what is recorded.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The agent an agent-role caller is bound to.
    pub agent: Option<AgentId>,
    /// The kind of credential it presented.
    pub kind: CredentialKind,
}

/// The kinds of credential, kept apart wherever a caller is named (SPEC R28): a JWT's subject
/// never counts as, or is recorded as, an API token or the command line of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// An API token, named by its name.
    Token,
    /// A JWT, named by its subject.
    Jwt,
    /// No credential: local mode, or `auth.mode = "none"`.
    None,
}

/// What the recorded name of a JWT's caller starts with. Token names cannot hold `:`, nor
/// can the fixed actors (`local`, `cli`, `config`), so no other caller is recorded alike.
pub const JWT_ACTOR_PREFIX: &str = "jwt:";

impl Caller {
    /// The caller of a server without authentication (local mode, or `auth.mode = "none"`):
    /// it may do everything.
    pub fn unauthenticated(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            role: Role::Admin,
            agent: None,
            kind: CredentialKind::None,
        }
    }

    /// Who the caller is recorded as (`by` in the audit log and in conversation history,
    /// SPEC R28) and rate-limited as: a token's name or the unauthenticated caller's name as
    /// they are, a JWT's subject as `jwt:<subject>`.
    pub fn actor(&self) -> String {
        match self.kind {
            CredentialKind::Jwt => format!("{JWT_ACTOR_PREFIX}{}", self.name),
            CredentialKind::Token | CredentialKind::None => self.name.clone(),
        }
    }

    /// Whether the caller may act for (or read about) `agent`: every role but `agent`
    /// may, an agent only for itself.
    pub fn speaks_for(&self, agent: &str) -> bool {
        match self.role {
            Role::Agent => self.agent.as_ref().is_some_and(|own| own.as_str() == agent),
            Role::Admin | Role::Supervisor | Role::Integration => true,
        }
    }

    /// The agent whose data alone this caller may read, if it is limited to one.
    pub fn only_agent(&self) -> Option<&AgentId> {
        match self.role {
            Role::Agent => self.agent.as_ref(),
            Role::Admin | Role::Supervisor | Role::Integration => None,
        }
    }
}
