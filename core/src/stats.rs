//! Counters of what an engine did on the live path, for a driver's metrics (the model is
//! quinn-proto's `Connection::stats()`): a plain `Copy` value read with
//! [`crate::engine::Engine::stats`].
//!
//! Counters start at zero in each process, like Prometheus counters: receipts replayed by
//! [`crate::engine::Engine::restore`] are not counted, only what this engine did since it was
//! built. Every counter saturates at `u64::MAX`.
//!
//! The accessors take typed labels; to list every label without knowing the indices,
//! iterate [`GovernorState::ALL`], [`ActionKind::ALL`], [`ActionOutcome::ALL`] and
//! [`IngestError::ALL`], or take [`Stats::signal_results`] whole.

use crate::action::{ActionKind, ActionOutcome};
use crate::breaker::CircuitState;
use crate::engine::{IngestError, Mode, SignalResult};
use crate::governor::GovernorState;
use crate::receipt::Event;

const STATES: usize = GovernorState::ALL.len();
const KINDS: usize = ActionKind::ALL.len();
const OUTCOMES: usize = ActionOutcome::ALL.len();
const REFUSALS: usize = IngestError::ALL.len();
const CIRCUITS: usize = CircuitState::ALL.len();
const MODES: usize = Mode::ALL.len();

/// How many entries [`Stats::signal_results`] has: governed, duplicate and every
/// [`IngestError`].
pub const SIGNAL_RESULTS: usize = 2 + REFUSALS;

/// The label of a governed signal in [`Stats::signal_results`].
pub const GOVERNED: &str = "governed";
/// The label of a duplicate signal in [`Stats::signal_results`].
pub const DUPLICATE: &str = "duplicate";

/// What an engine did on the live path since it was built (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    receipts: u64,
    last_seq: Option<u64>,
    /// Governor receipts by `[mode.index()][from.index()][to.index()]`.
    transitions: [[[u64; STATES]; STATES]; MODES],
    /// `ActionCompleted` receipts by `[mode.index()][kind.index()][outcome.index()]`.
    actions_completed: [[[u64; OUTCOMES]; KINDS]; MODES],
    /// `ShadowAction` receipts by `[kind.index()]`.
    actions_shadowed: [u64; KINDS],
    /// `RollbackCompleted` receipts by `[kind.index()][succeeded as usize]`.
    rollbacks_completed: [[u64; 2]; KINDS],
    /// `Circuit` receipts by `[kind.index()][to.index()]`.
    circuit_transitions: [[u64; CIRCUITS]; KINDS],
    signals_governed: u64,
    signals_duplicate: u64,
    /// Refused signals by [`IngestError::index`].
    signals_refused: [u64; REFUSALS],
    dedup_evictions: u64,
}

impl Stats {
    /// Receipts appended.
    pub const fn receipts(&self) -> u64 {
        self.receipts
    }

    /// The seq of the last receipt appended; `None` before the first.
    pub const fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Governor receipts from `from` to `to` (a reset that ends enforcement writes one from
    /// Stable to Stable).
    pub fn transitions(&self, from: GovernorState, to: GovernorState) -> u64 {
        Mode::ALL.into_iter().fold(0, |sum, mode| {
            sum.saturating_add(self.transitions_in(mode, from, to))
        })
    }

    /// [`Stats::transitions`] of tenants in `mode` when the receipt was written.
    pub fn transitions_in(&self, mode: Mode, from: GovernorState, to: GovernorState) -> u64 {
        let table = self.transitions.get(mode.index());
        table.map_or(0, |t| cell(t, from.index(), to.index()))
    }

    /// Actions of `kind` that ended with `outcome` (engine-made endings included: timeouts
    /// and supersedes).
    pub fn actions_completed(&self, kind: ActionKind, outcome: ActionOutcome) -> u64 {
        Mode::ALL.into_iter().fold(0, |sum, mode| {
            sum.saturating_add(self.actions_completed_in(mode, kind, outcome))
        })
    }

    /// [`Stats::actions_completed`] of tenants in `mode` when the completion was written
    /// (a shadow tenant's actions are manual, or were dispatched before it switched).
    pub fn actions_completed_in(
        &self,
        mode: Mode,
        kind: ActionKind,
        outcome: ActionOutcome,
    ) -> u64 {
        let table = self.actions_completed.get(mode.index());
        table.map_or(0, |t| cell(t, kind.index(), outcome.index()))
    }

    /// Actions of `kind` the governor of a shadow tenant ordered and did not dispatch
    /// (`ShadowAction` receipts).
    pub fn actions_shadowed(&self, kind: ActionKind) -> u64 {
        self.actions_shadowed
            .get(kind.index())
            .copied()
            .unwrap_or(0)
    }

    /// Rollbacks of actions of `kind` that ended, by whether they succeeded.
    pub fn rollbacks_completed(&self, kind: ActionKind, succeeded: bool) -> u64 {
        cell(
            &self.rollbacks_completed,
            kind.index(),
            usize::from(succeeded),
        )
    }

    /// Circuit changes of `kind`'s breaker to `to`.
    pub fn circuit_transitions(&self, kind: ActionKind, to: CircuitState) -> u64 {
        cell(&self.circuit_transitions, kind.index(), to.index())
    }

    /// Signals governed.
    pub const fn signals_governed(&self) -> u64 {
        self.signals_governed
    }

    /// Signals reported as duplicates.
    pub const fn signals_duplicate(&self) -> u64 {
        self.signals_duplicate
    }

    /// Signals refused with `error` (every refused attempt: a `Busy` retried by the driver
    /// counts once per attempt).
    pub fn signals_refused(&self, error: IngestError) -> u64 {
        self.signals_refused
            .get(error.index())
            .copied()
            .unwrap_or(0)
    }

    /// Every signal result with its count, labelled as the wire names them: [`GOVERNED`],
    /// [`DUPLICATE`], then each [`IngestError::name`] in [`IngestError::ALL`] order.
    pub fn signal_results(&self) -> [(&'static str, u64); SIGNAL_RESULTS] {
        let mut results = [(GOVERNED, self.signals_governed); SIGNAL_RESULTS];
        if let Some(duplicate) = results.get_mut(1) {
            *duplicate = (DUPLICATE, self.signals_duplicate);
        }
        for (result, error) in results.iter_mut().skip(2).zip(IngestError::ALL) {
            *result = (error.name(), self.signals_refused(error));
        }
        results
    }

    /// Dedup ids evicted while still inside the retention because the deduplicator was full.
    pub const fn dedup_evictions(&self) -> u64 {
        self.dedup_evictions
    }

    /// Counts a receipt appended with `seq` for a tenant in `mode`. `ended` is the kind of
    /// the action an `ActionCompleted` or `RollbackCompleted` event ends (read before it is
    /// applied).
    pub(crate) fn count_receipt(
        &mut self,
        seq: u64,
        event: &Event,
        ended: Option<ActionKind>,
        mode: Mode,
    ) {
        self.receipts = self.receipts.saturating_add(1);
        self.last_seq = Some(seq);
        let m = mode.index();
        let counter = match (event, ended) {
            (Event::Governor { from, to, .. }, _) => self
                .transitions
                .get_mut(m)
                .and_then(|t| cell_mut(t, from.index(), to.index())),
            (Event::ActionCompleted { outcome, .. }, Some(kind)) => self
                .actions_completed
                .get_mut(m)
                .and_then(|t| cell_mut(t, kind.index(), outcome.index())),
            (Event::ShadowAction { action }, _) => {
                self.actions_shadowed.get_mut(action.kind().index())
            }
            (Event::RollbackCompleted { succeeded, .. }, Some(kind)) => cell_mut(
                &mut self.rollbacks_completed,
                kind.index(),
                usize::from(*succeeded),
            ),
            (Event::Circuit { kind, to }, _) => {
                cell_mut(&mut self.circuit_transitions, kind.index(), to.index())
            }
            _ => None,
        };
        bump(counter);
    }

    /// Counts what became of one signal.
    pub(crate) fn count_signal(&mut self, result: &Result<SignalResult, IngestError>) {
        let counter = match result {
            Ok(SignalResult::Governed(_)) => Some(&mut self.signals_governed),
            Ok(SignalResult::Duplicate) => Some(&mut self.signals_duplicate),
            Err(error) => self.signals_refused.get_mut(error.index()),
        };
        bump(counter);
    }

    /// Counts dedup ids evicted early.
    pub(crate) fn count_dedup_evictions(&mut self, evicted: u64) {
        self.dedup_evictions = self.dedup_evictions.saturating_add(evicted);
    }
}

fn cell<const R: usize, const C: usize>(table: &[[u64; C]; R], row: usize, column: usize) -> u64 {
    table
        .get(row)
        .and_then(|r| r.get(column))
        .copied()
        .unwrap_or(0)
}

fn cell_mut<const R: usize, const C: usize>(
    table: &mut [[u64; C]; R],
    row: usize,
    column: usize,
) -> Option<&mut u64> {
    table.get_mut(row).and_then(|r| r.get_mut(column))
}

fn bump(counter: Option<&mut u64>) {
    if let Some(counter) = counter {
        *counter = counter.saturating_add(1);
    }
}
