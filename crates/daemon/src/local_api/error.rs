//! Every refusal of the local API, as one type that is a response: plain text
//! with a newline, in the seed daemon's style, with the status its kind calls for.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalApiError {
    /// No credential, or the wrong one, for the route.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A web page's request, or a task reaching outside what its token allows.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// Another checkout holds the repository; clients that understand it retry.
    #[error("the repository is busy with another checkout; retry shortly")]
    RepoBusy,
    #[error("{0}")]
    Internal(String),
}

impl LocalApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RepoBusy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for LocalApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), format!("{self}\n")).into_response();
        if matches!(self, Self::RepoBusy) {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            headers.insert("X-Multica-Retryable", HeaderValue::from_static("repo-busy"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_answers_its_status_as_a_line_of_text() {
        let response = LocalApiError::Unauthorized("unauthorized").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = LocalApiError::NotFound("not found".into()).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let busy = LocalApiError::RepoBusy.into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
        assert_eq!(busy.headers()["X-Multica-Retryable"], "repo-busy");
    }
}
