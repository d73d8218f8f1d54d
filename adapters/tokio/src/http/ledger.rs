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

pub(super) async fn ledger(State(state): St, RawQuery(query): RawQuery) -> Response {
    let pairs = match serde_urlencoded_pairs(query.as_deref().unwrap_or("")) {
        Ok(pairs) => pairs,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "MalformedInput",
                &format!("query: {e}"),
            );
        }
    };
    let query = match ledger_reads::parse_query(pairs) {
        Ok(q) => q,
        Err(message) => return error(StatusCode::BAD_REQUEST, "MalformedInput", &message),
    };
    let Some(view) = durable_view(&state) else {
        return refused(&state, Refused::LedgerUnavailable);
    };
    let path = state.data_dir.join(FILE_NAME);
    let paging = query.after_seq.is_some();
    let page = state
        .reads
        .run(move || ledger_reads::read_page(&path, &view, &query))
        .await;
    match page {
        Ok(page) => {
            let mut response = json(&page.receipts);
            if let (true, Some(last)) = (paging, page.last_scanned)
                && let Ok(value) = HeaderValue::from_str(&last.to_string())
            {
                response.headers_mut().insert(NEXT_AFTER_SEQ, value);
            }
            response
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "ChainBroken", &e),
    }
}

/// The response header naming the last seq a forward page looked at (the next `after_seq`).
pub const NEXT_AFTER_SEQ: &str = "autonomic-next-after-seq";

/// The committed view of the ledger, unless the ledger is poisoned (then reads answer 503:
/// memory may hold what never reached the disk, and the file's tail is unknown).
pub(super) fn durable_view(state: &HttpState) -> Option<crate::ledger_file::View> {
    if state.shared.poisoned.load(Ordering::SeqCst) {
        return None;
    }
    state.shared.ledger_view.read().ok()?.clone()
}

#[derive(serde::Serialize)]
pub(super) struct VerifyAnswer {
    ok: bool,
    file: ledger_reads::FileVerify,
    memory: crate::daemon::WindowVerify,
}

pub(super) async fn verify(State(state): St) -> Response {
    let memory = match state.reads.recent_memory_verify() {
        Some(memory) => memory,
        None => match state.engine.verify().await {
            Ok(memory) => {
                state.reads.remember_memory_verify(&memory);
                memory
            }
            Err(r) => return refused(&state, r),
        },
    };
    if let Some(e) = &memory.error {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "ChainBroken", e);
    }
    let Some(view) = durable_view(&state) else {
        return refused(&state, Refused::LedgerUnavailable);
    };
    let path = state.data_dir.join(FILE_NAME);
    let reads = Arc::clone(&state);
    let file = state
        .reads
        .run(move || reads.reads.verify(&path, &view))
        .await;
    match file {
        Ok(file) => json(&VerifyAnswer {
            ok: true,
            file,
            memory,
        }),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "ChainBroken", &e),
    }
}
