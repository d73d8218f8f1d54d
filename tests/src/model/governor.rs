//! `docs/governor.md`: the governor table, with configurable thresholds.

/// The governor's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GState {
    /// Below warn.
    Stable,
    /// Elevated.
    Warn,
    /// Throttled.
    Intervene,
    /// Sustained or failed intervention.
    Degrade,
    /// Shedding; only Reset leaves.
    Refuse,
}

impl GState {
    /// The state's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            GState::Stable => "Stable",
            GState::Warn => "Warn",
            GState::Intervene => "Intervene",
            GState::Degrade => "Degrade",
            GState::Refuse => "Refuse",
        }
    }

    /// Every state.
    pub const ALL: [GState; 5] = [
        GState::Stable,
        GState::Warn,
        GState::Intervene,
        GState::Degrade,
        GState::Refuse,
    ];
}

/// The events the table reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GEvent {
    /// A normalized value, 0..=100.
    Signal(u8),
    /// The action in flight succeeded.
    Succeeded,
    /// The action in flight failed (or timed out).
    Failed,
    /// An operator's reset.
    Reset,
}

/// The actions the table orders (Rollback is only ever manual).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MAction {
    /// Throttle(percent).
    Throttle(u8),
    /// Pause.
    Pause,
    /// Shed(percent).
    Shed(u8),
}

/// The configurable numbers of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Th {
    /// Enter Warn at or above.
    pub warn: u8,
    /// Fall back below.
    pub recover: u8,
    /// Intervene at or above.
    pub intervene: u8,
    /// Refuse strictly above (from Degrade).
    pub refuse: u8,
    /// High signals in Warn that escalate.
    pub sustain: u8,
}

impl Th {
    /// The defaults: warn 75, recover 70, intervene 90, refuse above 95, sustain 3.
    pub const DEFAULT: Th = Th {
        warn: 75,
        recover: 70,
        intervene: 90,
        refuse: 95,
        sustain: 3,
    };
}

/// One row of the table in `docs/governor.md`: `(state, c, event) -> (next, c', action)`.
pub fn step(th: &Th, state: GState, c: u8, event: GEvent) -> (GState, u8, Option<MAction>) {
    use GState::*;
    let v = match event {
        GEvent::Reset => return (Stable, 0, None),
        GEvent::Signal(v) => v,
        GEvent::Succeeded | GEvent::Failed => {
            return match (state, event) {
                (Intervene, GEvent::Succeeded) => (Warn, 0, None),
                (Intervene, _) => (Degrade, 0, Some(MAction::Pause)),
                // Not Intervene: unchanged (the outcome is still recorded).
                _ => (state, c, None),
            };
        }
    };
    match state {
        Stable | Warn if v >= th.intervene => (Intervene, 0, Some(MAction::Throttle(50))),
        Stable if v >= th.warn => (Warn, 1, None),
        Stable => (Stable, 0, None),
        Warn if v >= th.warn => {
            if u32::from(c) + 1 >= u32::from(th.sustain) {
                (Degrade, 0, Some(MAction::Throttle(25)))
            } else {
                (Warn, c + 1, None)
            }
        }
        Warn if v >= th.recover => (Warn, 0, None),
        Warn => (Stable, 0, None),
        Intervene if v < th.warn => (Warn, 0, None),
        Intervene => (Intervene, 0, None),
        Degrade if v < th.recover => (Intervene, 0, None),
        Degrade if v > th.refuse => (Refuse, 0, Some(MAction::Shed(50))),
        Degrade => (Degrade, 0, None),
        Refuse => (Refuse, 0, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GState::*;

    #[test]
    fn spec_rows_with_default_thresholds() {
        // Proves the model against the table of docs/governor.md, one assertion per row.
        let th = Th::DEFAULT;
        let s = |st, c, e| step(&th, st, c, e);
        let sig = GEvent::Signal;
        assert_eq!(
            s(Stable, 0, sig(90)),
            (Intervene, 0, Some(MAction::Throttle(50)))
        );
        assert_eq!(s(Stable, 0, sig(75)), (Warn, 1, None));
        assert_eq!(s(Stable, 0, sig(74)), (Stable, 0, None));
        assert_eq!(
            s(Warn, 2, sig(90)),
            (Intervene, 0, Some(MAction::Throttle(50)))
        );
        assert_eq!(
            s(Warn, 2, sig(89)),
            (Degrade, 0, Some(MAction::Throttle(25)))
        );
        assert_eq!(s(Warn, 1, sig(75)), (Warn, 2, None));
        assert_eq!(s(Warn, 2, sig(70)), (Warn, 0, None));
        assert_eq!(s(Warn, 2, sig(69)), (Stable, 0, None));
        assert_eq!(s(Intervene, 0, sig(74)), (Warn, 0, None));
        assert_eq!(s(Intervene, 0, sig(75)), (Intervene, 0, None));
        assert_eq!(s(Intervene, 0, GEvent::Succeeded), (Warn, 0, None));
        assert_eq!(
            s(Intervene, 0, GEvent::Failed),
            (Degrade, 0, Some(MAction::Pause))
        );
        assert_eq!(s(Degrade, 0, sig(69)), (Intervene, 0, None));
        assert_eq!(s(Degrade, 0, sig(96)), (Refuse, 0, Some(MAction::Shed(50))));
        assert_eq!(s(Degrade, 0, sig(95)), (Degrade, 0, None));
        assert_eq!(s(Degrade, 0, sig(70)), (Degrade, 0, None));
        assert_eq!(s(Refuse, 0, sig(0)), (Refuse, 0, None));
        for st in GState::ALL {
            assert_eq!(s(st, 1, GEvent::Reset), (Stable, 0, None));
        }
        assert_eq!(s(Warn, 2, GEvent::Succeeded), (Warn, 2, None));
        assert_eq!(s(Refuse, 0, GEvent::Failed), (Refuse, 0, None));
    }
}
