//! The handlers that go through the engine thread: signals, tenants' entitlements, resets,
//! actions, rollbacks, admissions. Each sends one message and answers after its receipts are
//! committed; every refusal is an [`ApiError`].

use autonomic_core::Resource;

use super::*;
use crate::daemon::EntitlementCmd;
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
}

pub(super) async fn action(
    State(state): St,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let body = body?;
    let requested: ActionJson = wire::from_body(&body).map_err(ApiError::MalformedInput)?;
    let action = requested
        .to_action()
        .map_err(|e| ApiError::InvalidAction(e.to_string()))?;
    let receipt = state
        .call(state.engine.action(id.clone(), action))
        .await??;
    Ok(Json(ActionAnswer {
        tenant: id,
        receipt,
        action: requested,
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
                .admit(tenant.clone(), resource, body.amount, release),
        )
        .await?;
    metrics.admission(match &result {
        Ok(_) if release => "released",
        Ok(_) => "admitted",
        Err(e) => e.name(),
    });
    Ok(Json(AdmissionLine::new(None, &tenant, resource, result?)))
}

pub(super) async fn tenant(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let view = state.call(state.engine.tenant(id.clone())).await?;
    let view = view.ok_or(ApiError::TenantNotFound(id))?;
    Ok(json(&view))
}
