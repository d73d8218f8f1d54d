//! `GET /v1/ledger` and `GET /v1/ledger/verify`: answered from the committed file on
//! blocking threads ([`crate::ledger_reads`]), never through the engine thread.

use super::*;

/// Parses `tail=N&tenant=T` (percent-decoded; unknown keys refused).
/// `application/x-www-form-urlencoded` pairs, via axum's own `Query` machinery.
pub(super) fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|e: axum::http::uri::InvalidUri| e.to_string())?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| e.body_text())
}

pub(super) async fn ledger(
    State(state): St,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = serde_urlencoded_pairs(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::MalformedInput(format!("query: {e}")))?;
    let query = ledger_reads::parse_query(pairs).map_err(ApiError::MalformedInput)?;
    let paging = query.after_seq.is_some();
    let page = state
        .reads
        .page(&state.shared, &state.data_dir, query)
        .await?;
    let mut response = json(&page.receipts);
    if let (true, Some(last)) = (paging, page.last_scanned)
        && let Ok(value) = HeaderValue::from_str(&last.to_string())
    {
        response.headers_mut().insert(NEXT_AFTER_SEQ, value);
    }
    Ok(response)
}

/// The response header naming the last seq a forward page looked at (the next `after_seq`).
pub const NEXT_AFTER_SEQ: &str = "autonomic-next-after-seq";

#[derive(serde::Serialize)]
pub(super) struct VerifyAnswer {
    ok: bool,
    file: ledger_reads::FileVerify,
    memory: crate::daemon::WindowVerify,
}

pub(super) async fn verify(State(state): St) -> Result<Json<VerifyAnswer>, ApiError> {
    let memory = match state.reads.recent_memory_verify() {
        Some(memory) => memory,
        None => {
            let memory = state.call(state.engine.verify()).await?;
            state.reads.remember_memory_verify(&memory);
            memory
        }
    };
    if let Some(e) = &memory.error {
        return Err(ApiError::ChainBroken(e.clone()));
    }
    let file = state.reads.verify(&state.shared, &state.data_dir).await?;
    Ok(Json(VerifyAnswer {
        ok: true,
        file,
        memory,
    }))
}
