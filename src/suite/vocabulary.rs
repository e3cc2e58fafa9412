//! Each role has its own step vocabulary, chosen by `[suite] role` when a file loads: a server
//! suite's steps are [`ServerStep`]s (the harness as a client), a client suite's are
//! [`ClientStep`]s (the harness as the mock server and the client's commander). A step of the
//! other role cannot be written, so no executor meets one at run time.
use super::client_steps::ClientStep;
use super::model::Role;
use super::steps::ServerStep;

/// Declares a role's step enum, tagged by `do = "<kind>"`, so that each kind is written once:
/// serde's tag, [`kind`](ServerStep::kind) (transcripts, messages) and `KINDS` (telling a
/// step of the other role from a typo) cannot drift apart.
macro_rules! vocabulary {
    ($(#[$attr:meta])* pub enum $name:ident {
        $($(#[$vattr:meta])* $kind:literal => $variant:ident($ty:ty),)*
    }) => {
        $(#[$attr])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(tag = "do")]
        pub enum $name {
            $($(#[$vattr])* #[serde(rename = $kind)] $variant($ty),)*
        }

        impl $name {
            /// Every `do = "…"` of the vocabulary.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $kind,)*
                }
            }
        }
    };
}
pub(super) use vocabulary;

/// A case's steps, in the vocabulary of its suite's role.
#[derive(Debug, Clone)]
pub enum Steps {
    Server(Vec<ServerStep>),
    Client(Vec<ClientStep>),
}

impl Steps {
    pub fn len(&self) -> usize {
        match self {
            Steps::Server(s) => s.len(),
            Steps::Client(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn role(&self) -> Role {
        match self {
            Steps::Server(_) => Role::Server,
            Steps::Client(_) => Role::Client,
        }
    }

    /// The `do` of the `i`-th step (0-based).
    pub fn kind(&self, i: usize) -> &'static str {
        match self {
            Steps::Server(s) => s[i].kind(),
            Steps::Client(s) => s[i].kind(),
        }
    }
}

/// The kinds a suite of `role` can use.
pub fn kinds(role: Role) -> &'static [&'static str] {
    match role {
        Role::Server => ServerStep::KINDS,
        Role::Client => ClientStep::KINDS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `do` is named "of the other role" by the loader only when that role alone has it.
    #[test]
    fn the_roles_share_only_sleep() {
        let shared: Vec<&str> = ServerStep::KINDS.iter().filter(|k| ClientStep::KINDS.contains(k)).copied().collect();
        assert_eq!(shared, ["sleep"]);
    }
}
