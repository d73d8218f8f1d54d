//! `POST /v1/tenants/{id}/mode` `{"mode":"shadow"|"enforce"}`: a tenant's mode
//! (`docs/http-api.md#post-v1tenantsidmode`), answered once its `mode_set` receipt is
//! committed.

use autonomic_core::engine::Mode;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: String,
}

/// The answer: `{"tenant":"acme","mode":"shadow","receipt":4}`.
#[derive(serde::Serialize)]
pub(super) struct ModeAnswer {
    tenant: String,
    mode: &'static str,
    receipt: u64,
}

pub(super) async fn set_mode(
    State(state): St,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ModeAnswer>, ApiError> {
    let body = body?;
    let body: ModeBody = wire::from_body(&body).map_err(ApiError::MalformedInput)?;
    let mode = Mode::parse(&body.mode).ok_or_else(|| {
        ApiError::InvalidMode(format!(
            "mode must be \"enforce\" or \"shadow\", got {:?}",
            body.mode
        ))
    })?;
    let receipt = state
        .call(state.engine.set_mode(id.clone(), mode))
        .await??;
    Ok(Json(ModeAnswer {
        tenant: id,
        mode: mode.as_str(),
        receipt,
    }))
}
