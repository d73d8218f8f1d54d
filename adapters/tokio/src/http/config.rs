//! `GET /v1/config` and `POST /v1/config/reload` (`docs/http-api.md#config`): the running
//! config file's hash, and a hot reload of it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::{ApiError, HttpState};
use crate::daemon::{ConfigStatus, ReloadFailure};

/// `GET /v1/config`: `{"hash","applied_seq","path"}`.
pub(super) async fn status(State(state): State<Arc<HttpState>>) -> Json<ConfigStatus> {
    Json(state.reloader.status().await)
}

/// `POST /v1/config/reload` (the body is not read: send none): the file applied whole,
/// answered as `GET /v1/config` once its `ConfigApplied` receipt is committed; or 400
/// `ConfigInvalid` with the one-line error, nothing changed.
pub(super) async fn reload(
    State(state): State<Arc<HttpState>>,
) -> Result<Json<ConfigStatus>, ApiError> {
    match state.reloader.reload().await {
        Ok(status) => Ok(Json(status)),
        Err(ReloadFailure::Invalid(line)) => Err(ApiError::ConfigInvalid(line)),
        Err(ReloadFailure::Refused(refused)) => state.call(async { Err(refused) }).await,
    }
}
