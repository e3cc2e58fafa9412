//! The process exit codes of the `siospec` command, documented here and nowhere else in code
//! (README.md, "Exit codes", says the same for users).
use std::process::ExitCode;

/// How a `siospec` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every result as expected (or nothing to judge: a listing, a preparation).
    AsExpected,
    /// 1: at least one result differs from what the target's expectations file (or
    /// `--expectations`, or the documented compatibility tables for the matrix) says.
    Unexpected,
    /// 2: the command could not run as asked: a bad flag or suite file, an unknown target,
    /// a target that does not start, an unreachable URL, a report that cannot be written.
    Setup,
    /// 130: interrupted (Ctrl-C); every target started was stopped.
    Interrupted,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::AsExpected => 0,
            Exit::Unexpected => 1,
            Exit::Setup => 2,
            Exit::Interrupted => 130,
        }
    }

    /// `Unexpected` when any result is, else `AsExpected`.
    pub fn judged(unexpected: bool) -> Exit {
        if unexpected {
            Exit::Unexpected
        } else {
            Exit::AsExpected
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [Exit::AsExpected, Exit::Unexpected, Exit::Setup, Exit::Interrupted];
        assert_eq!(all.map(Exit::code), [0, 1, 2, 130]);
        assert_eq!(Exit::judged(true), Exit::Unexpected);
        assert_eq!(Exit::judged(false), Exit::AsExpected);
    }
}
