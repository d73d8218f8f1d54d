//! `docs/entitlements.md`: the entitlement lifecycle, SKUs and quotas.

/// The lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EState {
    /// Provisioned, not active.
    Pending,
    /// Serving.
    Active,
    /// Paused by an operator.
    Paused,
    /// Past its expiry.
    Expired,
    /// Revoked for good.
    Terminated,
}

impl EState {
    /// The state's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            EState::Pending => "Pending",
            EState::Active => "Active",
            EState::Paused => "Paused",
            EState::Expired => "Expired",
            EState::Terminated => "Terminated",
        }
    }
}

/// The lifecycle commands (`provision` is the core's way into Pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ECmd {
    /// none → Pending.
    Provision,
    /// none, Pending, Expired, Active → Active.
    Activate,
    /// Active → Paused.
    Pause,
    /// Paused → Active.
    Resume,
    /// anything but Terminated → Terminated.
    Revoke,
}

/// Every allowed `(from, command, to)`; `None` is "no entitlement yet". Anything not listed
/// is `TenantNotFound` from none (for pause, resume, revoke) or `InvalidStateTransition`.
const ALLOWED: &[(Option<EState>, ECmd, EState)] = {
    use ECmd as C;
    use EState as S;
    &[
        (None, C::Provision, S::Pending),
        (None, C::Activate, S::Active),
        (Some(S::Pending), C::Activate, S::Active),
        (Some(S::Expired), C::Activate, S::Active),
        (Some(S::Active), C::Activate, S::Active),
        (Some(S::Active), C::Pause, S::Paused),
        (Some(S::Paused), C::Resume, S::Active),
        (Some(S::Pending), C::Revoke, S::Terminated),
        (Some(S::Active), C::Revoke, S::Terminated),
        (Some(S::Paused), C::Revoke, S::Terminated),
        (Some(S::Expired), C::Revoke, S::Terminated),
    ]
};

/// The lifecycle: the next state, or the error's name. `from` is the effective state.
pub fn transition(from: Option<EState>, cmd: ECmd) -> Result<EState, &'static str> {
    if let Some((_, _, to)) = ALLOWED.iter().find(|(f, c, _)| *f == from && *c == cmd) {
        return Ok(*to);
    }
    match from {
        None => Err("TenantNotFound"),
        Some(_) => Err("InvalidStateTransition"),
    }
}

/// The state at `now_ms`: any non-Terminated entitlement is Expired from `expires_at_ms` on.
pub fn effective(stored: EState, expires_at_ms: Option<u64>, now_ms: u64) -> EState {
    match expires_at_ms {
        Some(at) if now_ms >= at && stored != EState::Terminated => EState::Expired,
        _ => stored,
    }
}

/// The SKU names and their quotas: cpu cores, memory GiB, concurrent requests, storage GiB.
pub const SKUS: [(&str, [u32; 4]); 3] = [
    ("starter", [2, 4, 100, 10]),
    ("pro", [8, 32, 1000, 100]),
    ("enterprise", [64, 256, 10000, 1024]),
];

/// The quotas of a SKU by name, or `None` for `InvalidSku`.
pub fn quotas(sku: &str) -> Option<[u32; 4]> {
    SKUS.iter().find(|(n, _)| *n == sku).map(|(_, q)| *q)
}

/// The limit under Throttle(p): p% of the SKU's, rounded down, at least 1.
pub fn throttled(limit: u32, percent: u8) -> u32 {
    (limit * u32::from(percent) / 100).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ECmd as C;
    use EState as S;

    #[test]
    fn spec_lifecycle() {
        // Proves the model against the rules of docs/entitlements.md, valid and invalid.
        assert_eq!(transition(None, C::Activate), Ok(S::Active));
        assert_eq!(transition(Some(S::Active), C::Activate), Ok(S::Active));
        assert_eq!(
            transition(Some(S::Paused), C::Activate),
            Err("InvalidStateTransition")
        );
        assert_eq!(
            transition(Some(S::Terminated), C::Activate),
            Err("InvalidStateTransition")
        );
        assert_eq!(
            transition(Some(S::Paused), C::Pause),
            Err("InvalidStateTransition")
        );
        assert_eq!(
            transition(Some(S::Terminated), C::Revoke),
            Err("InvalidStateTransition")
        );
        assert_eq!(transition(None, C::Pause), Err("TenantNotFound"));
        assert_eq!(transition(None, C::Revoke), Err("TenantNotFound"));
        assert_eq!(
            transition(Some(S::Pending), C::Provision),
            Err("InvalidStateTransition")
        );
        assert_eq!(effective(S::Paused, Some(10), 10), S::Expired);
        assert_eq!(effective(S::Paused, Some(10), 9), S::Paused);
        assert_eq!(effective(S::Terminated, Some(10), 99), S::Terminated);
        assert_eq!(throttled(2, 25), 1);
        assert_eq!(throttled(1000, 50), 500);
    }
}
