//! The one step loop every role runs: server cases (the harness as a client, `exec`), client
//! cases (the harness as the mock server commanding a client driver, `client_exec`) and
//! interop scenarios (a client driver against a server driver, `matrix::play`).
//!
//! Each role brings its own step vocabulary and what a step does; the loop is the same for
//! all: it writes `# step N kind` to the transcript, runs the steps in order, stops at the
//! first that stops, and names that step in the message. Deadlines and tolerances are in
//! `timing`, shared by the roles too.
use crate::wire::Transcript;

/// Why a role stopped a case, able to say at which step.
pub trait StepStop: Sized {
    /// The same stop, its message prefixed with `step N (kind): ` where that helps the reader.
    fn at_step(self, number: usize, kind: &str) -> Self;
}

/// One role's vocabulary and how it runs a step.
pub trait Role {
    type Step;
    type Stop: StepStop;

    fn kind(step: &Self::Step) -> &'static str;
    fn transcript(&self) -> &Transcript;
    /// Before a step runs (after its transcript line): what the role must bring up to date.
    fn before(&mut self, _number: usize, _step: &Self::Step) {}
    #[allow(async_fn_in_trait)]
    async fn run_step(&mut self, step: &Self::Step) -> Result<(), Self::Stop>;
    /// After a step that went through: what the role collects or checks between steps.
    fn after(&mut self, _number: usize, _step: &Self::Step) -> Result<(), Self::Stop> {
        Ok(())
    }
}

/// Runs `steps` in order on `role`; the first stop ends the run, labelled with its step.
pub async fn drive<R: Role>(role: &mut R, steps: &[R::Step]) -> Result<(), R::Stop> {
    for (i, step) in steps.iter().enumerate() {
        let number = i + 1;
        let kind = R::kind(step);
        role.transcript().log(format!("# step {number} {kind}"));
        role.before(number, step);
        let r = match role.run_step(step).await {
            Ok(()) => role.after(number, step),
            stopped => stopped,
        };
        r.map_err(|e| e.at_step(number, kind))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Halt(String);
    impl StepStop for Halt {
        fn at_step(self, number: usize, kind: &str) -> Self {
            Halt(format!("step {number} ({kind}): {}", self.0))
        }
    }

    struct Counter {
        log: Transcript,
        ran: Vec<u32>,
        after: usize,
    }
    impl Role for Counter {
        type Step = u32;
        type Stop = Halt;
        fn kind(step: &u32) -> &'static str {
            if *step == 0 {
                "zero"
            } else {
                "count"
            }
        }
        fn transcript(&self) -> &Transcript {
            &self.log
        }
        async fn run_step(&mut self, step: &u32) -> Result<(), Halt> {
            self.ran.push(*step);
            if *step == 0 {
                Err(Halt("nothing to count".into()))
            } else {
                Ok(())
            }
        }
        fn after(&mut self, _number: usize, _step: &u32) -> Result<(), Halt> {
            self.after += 1;
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_first_stop_ends_the_run_and_names_its_step() {
        let mut c = Counter { log: Transcript::new(), ran: vec![], after: 0 };
        let r = drive(&mut c, &[3, 1, 0, 7]).await;
        assert_eq!(r, Err(Halt("step 3 (zero): nothing to count".into())));
        assert_eq!(c.ran, vec![3, 1, 0], "no step after the stop runs");
        assert_eq!(c.after, 2, "`after` follows the steps that went through only");
        let lines: Vec<String> = c.log.entries().into_iter().map(|e| e.line).collect();
        assert_eq!(lines, vec!["# step 1 count", "# step 2 count", "# step 3 zero"]);
    }

    #[tokio::test]
    async fn steps_that_all_go_through_end_ok() {
        let mut c = Counter { log: Transcript::new(), ran: vec![], after: 0 };
        assert_eq!(drive(&mut c, &[1, 2]).await, Ok(()));
        assert_eq!(c.after, 2);
    }
}
