//! Every deadline and tolerance of the harness, and the one function that scales them by
//! `time_scale`. Server cases (`exec`), client cases (`client_exec`), interop scenarios
//! (`matrix::play`) and the witness take their waits from here; protocol timers
//! (pingInterval, pingTimeout) are the target's and are never scaled.
use std::time::Duration;

/// `ms` stretched by the run's time scale.
pub fn scaled(scale: f64, ms: u64) -> Duration {
    Duration::from_millis((ms as f64 * scale).round() as u64)
}

/// A server case's `expect`, `send` and friends, when the step gives no `within_ms`.
pub const SERVER_STEP_MS: u64 = 1000;
/// A client case's expectation: the client reacts through its event loop and its driver's
/// pipe, so a little more than a server step.
pub const CLIENT_STEP_MS: u64 = 1500;
/// An interop scenario's wait for a report: a real client and a real server, both behind
/// drivers, and the proxy between them.
pub const SCENARIO_STEP_MS: u64 = 3000;
/// The connect timeout an interop scenario gives the client (below `SCENARIO_STEP_MS`, so the
/// client's own connect_error arrives before the harness gives up).
pub const SCENARIO_CONNECT_TIMEOUT_MS: u64 = 2500;
/// How long a driver has to refuse a command it cannot do (`unsupported`), when only that
/// answer tells a client's limit from a wrong exchange.
pub const DRIVER_REPLY_MS: u64 = 1000;
/// A case's whole budget when the suite gives no `deadline_ms`.
pub const CASE_DEADLINE_MS: u64 = 5000;

/// How early a heartbeat may come (a ping after less than pingInterval): network and
/// scheduling only ever delay one, so this is clock granularity, the same for every role.
pub const HEARTBEAT_EARLY_MS: u64 = 100;
/// How late a client's ping may come in a client case without `tolerance_ms`.
pub const CLIENT_HEARTBEAT_LATE_MS: u64 = 200;
/// Past pingInterval + pingTimeout, how long a server case waits for the next ping before it
/// calls it missing.
pub const HEARTBEAT_GRACE_MS: u64 = 500;
/// Past `cycles` × (pingInterval + pingTimeout), how long an interop scenario keeps watching
/// for a disconnect before it calls the connection steady.
pub const STAY_CONNECTED_GRACE_MS: u64 = 100;

/// A `tcp` step's connections are held open this long without `hold_ms`; a `settle` step
/// waits this long for its sign without `within_ms`.
pub const HOLD_MS: u64 = 1000;
/// How long a background request is given to reach the server before the next step acts
/// (30 ms was too little on a loaded machine).
pub const BACKGROUND_REACH_MS: u64 = 100;
/// How much later than it meant to act the harness may be before what a server did
/// meanwhile is put down to the harness (its own scheduling lag), not to the server.
pub const HARNESS_LAG_SLACK_MS: u64 = 100;
pub const SETTLE_MS: u64 = 1000;

/// The witness: how long it waits for each answer before it calls the server unavailable,
/// and the pause between two exchanges.
pub const WITNESS_ANSWER_MS: u64 = 2000;
pub const WITNESS_EVERY_MS: u64 = 100;
/// After a witness case's steps, before the witness's last exchange: a server that dies of
/// what the case sent may do so as the case's sessions close.
pub const WITNESS_FINAL_GRACE_MS: u64 = 50;

/// A launched target's driver: starting a server for one case, and being ready at all
/// (a JVM or a Python interpreter starting cold).
pub const SERVER_START_MS: u64 = 10_000;
pub const DRIVER_READY_MS: u64 = 60_000;

#[cfg(test)]
mod tests {
    #[test]
    fn scaling_rounds_and_stretches() {
        assert_eq!(super::scaled(1.0, 1000).as_millis(), 1000);
        assert_eq!(super::scaled(2.5, 1000).as_millis(), 2500);
        assert_eq!(super::scaled(0.5, 3).as_millis(), 2);
    }
}
