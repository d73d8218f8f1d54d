//! `docs/actions.md#circuit-breakers`: one circuit per action kind, as the docs state it.
//!
//! After `failures` consecutive failures or timeouts of a kind (a success resets the count;
//! supersedes and refusals do not count) the circuit opens: dispatches of that kind are
//! refused at once. From `cooldown_ms` after it opened, the next dispatch half-opens it and
//! runs as the trial; while the trial is in flight the others are refused; its success closes
//! the circuit, its failure or timeout opens it again (a new cool-down). A trial superseded
//! leaves it half-open, and the next dispatch is a new trial. `failures = 0` is off: nothing
//! is refused or recorded. Each change is one receipt.

/// One kind's circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MCircuit {
    /// Consecutive failures so far.
    Closed(u32),
    /// Opened at this instant.
    Open(u64),
    /// The trial's receipt id.
    HalfOpen(u64),
}

impl MCircuit {
    /// The state's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            MCircuit::Closed(_) => "closed",
            MCircuit::Open(_) => "open",
            MCircuit::HalfOpen(_) => "half_open",
        }
    }
}

/// What a dispatch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MAdmit {
    /// Runs.
    Run,
    /// Records `half_open`, then runs as the trial.
    Trial,
    /// Refused at once.
    Refuse,
}

/// One kind's breaker: settings and circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MBreaker {
    /// Failures that open it (0: never).
    pub failures: u32,
    /// The cool-down.
    pub cooldown_ms: u64,
    /// The circuit.
    pub circuit: MCircuit,
}

impl MBreaker {
    /// A closed breaker with these settings.
    pub fn new(failures: u32, cooldown_ms: u64) -> Self {
        Self {
            failures,
            cooldown_ms,
            circuit: MCircuit::Closed(0),
        }
    }

    /// A dispatch at `now_ms` that would get receipt id `receipt` if it runs directly (one
    /// more if a change is recorded first); `trial_in_flight` tells whether the current
    /// trial is still in flight.
    pub fn dispatch(&mut self, now_ms: u64, receipt: u64, trial_in_flight: bool) -> MAdmit {
        if self.failures == 0 {
            return MAdmit::Run;
        }
        match self.circuit {
            MCircuit::Closed(_) => MAdmit::Run,
            MCircuit::Open(at) if now_ms < at + self.cooldown_ms => MAdmit::Refuse,
            MCircuit::HalfOpen(_) if trial_in_flight => MAdmit::Refuse,
            MCircuit::Open(_) | MCircuit::HalfOpen(_) => {
                self.circuit = MCircuit::HalfOpen(receipt + 1);
                MAdmit::Trial
            }
        }
    }

    /// The action `receipt` succeeded, or failed or timed out, at `now_ms` (supersedes and
    /// refusals are not reported: they never count). Returns whether a change is recorded.
    pub fn ended(&mut self, now_ms: u64, receipt: u64, succeeded: bool) -> bool {
        match self.circuit {
            MCircuit::Closed(n) => {
                let n = if succeeded { 0 } else { n + 1 };
                self.circuit = MCircuit::Closed(n);
                if self.failures > 0 && !succeeded && n >= self.failures {
                    self.circuit = MCircuit::Open(now_ms);
                    return true;
                }
                false
            }
            MCircuit::HalfOpen(trial) if trial == receipt && self.failures > 0 => {
                self.circuit = if succeeded {
                    MCircuit::Closed(0)
                } else {
                    MCircuit::Open(now_ms)
                };
                true
            }
            _ => false,
        }
    }
}
