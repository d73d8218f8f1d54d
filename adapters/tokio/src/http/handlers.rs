//! The handlers that go through the engine thread: signals, tenants' entitlements, resets,
//! actions, rollbacks, admissions. Each sends one message and answers after its receipts are
//! committed; every refusal is an [`ApiError`].

use autonomic_core::Resource;
use autonomic_core::entitlement::AdmitError;
use tracing::warn;

use super::*;
use crate::daemon::{EntitlementCmd, Msg, Query};
use crate::fleet::{Fleet, FleetAdmission};
use crate::wire::{ActionJson, AdmissionLine, EntitlementLine, GovernorLine};

/// Parses an optional JSON body (absent or empty: `T::default()`).
fn parse_body<T: for<'de> Deserialize<'de> + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    wire::from_body(&body).map_err(ApiError::MalformedInput)
}

pub(super) async fn signals(
    State(state): St,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let signals = wire::parse_signals(&body).map_err(ApiError::MalformedInput)?;
    let results = state.call(state.engine.signals(signals)).await?;
    Ok(json(&results))
}

#[derive(Debug, Default, Deserialize)]
struct ActivateBody {
    sku: Option<String>,
    expires_at_ms: Option<u64>,
}

pub(super) async fn activate(
    State(state): St,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: ActivateBody = parse_body(body)?;
    let Some(sku) = body.sku else {
        return Err(ApiError::MalformedInput(
            "body: missing field `sku`".to_owned(),
        ));
    };
    let command = EntitlementCmd::Activate {
        sku,
        expires_at_ms: body.expires_at_ms,
    };
    entitlement(&state, id, command).await
}

pub(super) async fn pause(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    entitlement(&state, id, EntitlementCmd::Pause).await
}

pub(super) async fn resume(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    entitlement(&state, id, EntitlementCmd::Resume).await
}

pub(super) async fn revoke(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    entitlement(&state, id, EntitlementCmd::Revoke).await
}

async fn entitlement(
    state: &HttpState,
    tenant: String,
    command: EntitlementCmd,
) -> Result<Response, ApiError> {
    let to = state
        .call(state.engine.entitlement(tenant.clone(), command))
        .await??;
    Ok(json(&EntitlementLine {
        line: None,
        tenant: &tenant,
        entitlement: to.as_str(),
    }))
}

pub(super) async fn reset(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let transition = state.call(state.engine.reset(id.clone())).await??;
    Ok(json(&GovernorLine::new(None, &id, &transition)))
}

#[derive(serde::Serialize)]
pub(super) struct ActionAnswer {
    tenant: String,
    receipt: u64,
    action: ActionJson,
    /// Present (`true`) only when the action was queued.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    queued: bool,
}

pub(super) async fn action(
    State(state): St,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let body = body?;
    let (requested, queue) = wire::parse_action_request(&body).map_err(ApiError::MalformedInput)?;
    let action = requested
        .to_action()
        .map_err(|e| ApiError::InvalidAction(e.to_string()))?;
    let answer = state
        .call(state.engine.action(id.clone(), action, queue))
        .await??;
    Ok(Json(ActionAnswer {
        tenant: id,
        receipt: answer.receipt,
        action: requested,
        queued: answer.queued,
    }))
}

#[derive(serde::Serialize)]
pub(super) struct RollbackAnswer {
    receipt: u64,
    rollback_receipt: u64,
}

pub(super) async fn rollback(
    State(state): St,
    Path(receipt): Path<String>,
) -> Result<Json<RollbackAnswer>, ApiError> {
    let receipt = receipt.parse::<u64>().map_err(|_| {
        ApiError::MalformedInput("receipt id must be an unsigned integer".to_owned())
    })?;
    let rollback_receipt = state.call(state.engine.rollback(receipt)).await??;
    Ok(Json(RollbackAnswer {
        receipt,
        rollback_receipt,
    }))
}

#[derive(Debug, Deserialize)]
struct AdmitBody {
    resource: String,
    #[serde(default = "one")]
    amount: u32,
}

fn one() -> u32 {
    1
}

impl Default for AdmitBody {
    fn default() -> Self {
        Self {
            resource: String::new(),
            amount: 1,
        }
    }
}

pub(super) async fn admit(
    State(s): St,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<AdmissionLine>, ApiError> {
    admission(&s, id, b, false).await
}

pub(super) async fn release(
    State(s): St,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<AdmissionLine>, ApiError> {
    admission(&s, id, b, true).await
}

async fn admission(
    state: &HttpState,
    tenant: String,
    body: Result<Bytes, BytesRejection>,
    release: bool,
) -> Result<Json<AdmissionLine>, ApiError> {
    let body: AdmitBody = parse_body(body)?;
    let metrics = &state.shared.metrics;
    let resource = Resource::parse(&body.resource).inspect_err(|e| metrics.admission(e.name()))?;
    let result = state
        .call(
            state
                .engine
                .admit_with_limit(tenant.clone(), resource, body.amount, release),
        )
        .await?;
    let counted = match result {
        Ok(admitted) => fleet_step(state, &tenant, resource, body.amount, release, admitted)
            .await
            .map(|fleet_in_use| (admitted.in_use, fleet_in_use)),
        Err(e) => Err(ApiError::Admit(e)),
    };
    metrics.admission(match &counted {
        Ok(_) if release => "released",
        Ok(_) => "admitted",
        Err(e) => e.name(),
    });
    let (value, fleet_in_use) = counted?;
    let mut line = AdmissionLine::new(None, &tenant, resource, value);
    line.fleet_in_use = fleet_in_use;
    Ok(Json(line))
}

/// With `[fleet]`, the fleet-wide half of an admission the engine accepted: a release is
/// released there too, an admission counted ([`fleet_admit`]). `rate` buckets are per
/// sidecar and never counted fleet-wide.
async fn fleet_step(
    state: &HttpState,
    tenant: &str,
    resource: Resource,
    amount: u32,
    release: bool,
    admitted: crate::daemon::Admitted,
) -> Result<Option<u64>, ApiError> {
    let Some(fleet) = state.fleet.as_ref().filter(|_| resource != Resource::Rate) else {
        return Ok(None);
    };
    // The core accepted the amount: it is within 1..=65535.
    let amount = u16::try_from(amount).unwrap_or(u16::MAX);
    if release {
        fleet.release(tenant, resource, amount).await;
        return Ok(None);
    }
    fleet_admit(state, fleet, tenant, resource, amount, admitted.limit).await
}

/// Counts a local admission fleet-wide; a refusal undoes the local admission and answers
/// `QuotaExceeded` with the fleet's numbers, or `FleetUnavailable`.
async fn fleet_admit(
    state: &HttpState,
    fleet: &Fleet,
    tenant: &str,
    resource: Resource,
    amount: u16,
    limit: u16,
) -> Result<Option<u64>, ApiError> {
    let refusal = match fleet.admit(tenant, resource, amount, limit).await {
        FleetAdmission::Counted { in_use } => return Ok(Some(in_use)),
        FleetAdmission::AdmittedLocally => return Ok(None),
        FleetAdmission::QuotaExceeded { in_use } => ApiError::Admit(AdmitError::QuotaExceeded {
            resource,
            in_use: u16::try_from(in_use).unwrap_or(u16::MAX),
            requested: amount,
            limit,
        }),
        FleetAdmission::Unavailable => ApiError::FleetUnavailable,
    };
    // Waits for room in the engine's queue: the local count must not keep these units.
    let undo = state
        .engine
        .call(|reply| {
            Msg::Query(Query::Admit {
                tenant: tenant.to_owned(),
                resource,
                amount: u32::from(amount),
                release: true,
                reply,
            })
        })
        .await;
    if !matches!(undo, Ok(Ok(_))) {
        warn!(
            tenant,
            resource = resource.as_str(),
            ?undo,
            "fleet: undoing a local admission failed"
        );
    }
    Err(refusal)
}

pub(super) async fn tenant(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let view = state.call(state.engine.tenant(id.clone())).await?;
    let view = view.ok_or(ApiError::TenantNotFound(id))?;
    Ok(json(&view))
}
