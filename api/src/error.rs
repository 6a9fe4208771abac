//! Errors as clients see them: every error carries `extensions.code`, one of a fixed set, and
//! a message written for the client — never an internal detail (those go to the log).
//! [`ApiError`] is the one error type: a GraphQL error inside a response, and, where the whole
//! request fails, an HTTP response ([`IntoResponse`]) whose body is a GraphQL response of that
//! one error — built here and nowhere else.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensions, ServerError, ServerResult, SimpleObject, ValidationResult, Variables};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The media type of GraphQL responses (GraphQL over HTTP).
pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
/// The legacy media type, and the default.
pub const JSON: &str = "application/json";

/// The error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum Code {
    /// No session, or one that expired or was revoked.
    Unauthenticated,
    /// Not allowed (only where saying so reveals nothing; otherwise NOT_FOUND).
    Forbidden,
    /// Nothing there, or nothing the viewer may see: the two look the same.
    NotFound,
    /// The input breaks a rule.
    BadUserInput,
    /// Too many requests: wait and retry.
    Throttled,
    /// The request is not GraphQL.
    GraphqlParseFailed,
    /// The request is GraphQL that this schema does not accept (including the depth and
    /// complexity limits).
    GraphqlValidationFailed,
    /// Something failed inside: the message says nothing more, the log says what.
    InternalServerError,
    /// The payer's available funds do not cover the payment.
    InsufficientFunds,
    /// An idempotency key was used before with other fields.
    IdempotencyConflict,
    /// The listing no longer sells.
    ListingClosed,
    /// The mask is a party, but not the one that may do this.
    NotAParty,
    /// A required text (a post's body, a thread's title) is empty.
    TextEmpty,
    /// A text is longer than its documented limit.
    TextTooLong,
    /// The post or thread is hidden or removed: it takes no replies or reactions.
    PostHidden,
    /// The mask has published no keys: it cannot be sent an encrypted message yet.
    NoKeys,
    /// The recipient blocked the sending mask.
    Blocked,
    /// This replica has not yet applied the log sequence number the request asked for
    /// (`X-Daira-Min-Seq`): retry, or ask another replica.
    ReplicaBehind,
}

impl Code {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Throttled => "THROTTLED",
            Code::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Code::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Code::InternalServerError => "INTERNAL_SERVER_ERROR",
            Code::InsufficientFunds => "INSUFFICIENT_FUNDS",
            Code::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Code::ListingClosed => "LISTING_CLOSED",
            Code::NotAParty => "NOT_A_PARTY",
            Code::TextEmpty => "TEXT_EMPTY",
            Code::TextTooLong => "TEXT_TOO_LONG",
            Code::PostHidden => "POST_HIDDEN",
            Code::NoKeys => "NO_KEYS",
            Code::Blocked => "BLOCKED",
            Code::ReplicaBehind => "REPLICA_BEHIND",
        }
    }
}

impl Code {
    /// The HTTP status of a request that fails whole with this code.
    fn status(self) -> StatusCode {
        match self {
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::BadUserInput | Code::GraphqlParseFailed | Code::GraphqlValidationFailed => StatusCode::BAD_REQUEST,
            Code::InsufficientFunds
            | Code::ListingClosed
            | Code::NotAParty
            | Code::PostHidden
            | Code::NoKeys
            | Code::Blocked => StatusCode::UNPROCESSABLE_ENTITY,
            Code::TextEmpty | Code::TextTooLong => StatusCode::BAD_REQUEST,
            Code::IdempotencyConflict => StatusCode::CONFLICT,
            Code::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Code::ReplicaBehind => StatusCode::SERVICE_UNAVAILABLE,
            Code::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error for the client.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// Its code.
    pub code: Code,
    /// The message.
    pub message: String,
    /// The input field it concerns, if any.
    pub field: Option<String>,
    /// As an HTTP response: the status, when not the code's own (415, 406, 413, 405, 503).
    status: Option<StatusCode>,
    /// As an HTTP response: the media type of the body (the one the client accepts).
    media: &'static str,
    /// As an HTTP response: headers that say more (`Retry-After`, `Allow`, rate limits).
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), field: None, status: None, media: JSON, headers: Vec::new() }
    }

    /// The input field it concerns.
    pub fn field(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_owned());
        self
    }

    /// Names `field` when nothing more precise was named (a rule's "not found" for a mask the
    /// client gave in `field`).
    pub fn or_field(mut self, field: &str) -> ApiError {
        self.field.get_or_insert_with(|| field.to_owned());
        self
    }

    /// An internal failure: logged in full, reported as INTERNAL_SERVER_ERROR.
    pub fn internal(what: &str, detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(detail = %detail, "{what}");
        ApiError::new(Code::InternalServerError, "internal error")
    }

    /// As an HTTP response, with this status rather than the code's.
    pub fn status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }

    /// As an HTTP response, with a body of this media type.
    pub fn media(mut self, media: &'static str) -> ApiError {
        self.media = media;
        self
    }

    /// As an HTTP response, with this header too.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// As an HTTP response, with these headers too.
    pub fn headers(mut self, headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>) -> ApiError {
        self.headers.extend(headers);
        self
    }
}

impl ApiError {
    /// The error as a GraphQL error object: `{"message", "extensions": {"code"}}`. Every error
    /// the server writes itself — an HTTP error body, a request error inside a batch, a
    /// WebSocket error frame — is made here.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"message": self.message, "extensions": {"code": self.code.as_str()}})
    }

    /// A GraphQL response made of this error alone: `{"errors": [...]}`.
    pub fn response_json(&self) -> serde_json::Value {
        serde_json::json!({ "errors": [self.to_json()] })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.response_json().to_string();
        let mut response = (self.status.unwrap_or(self.code.status()), body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(self.media));
        response.headers_mut().extend(self.headers);
        response
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> async_graphql::Error {
        let code = e.code.as_str();
        async_graphql::Error::new(e.message).extend_with(|_, ext| ext.set("code", code))
    }
}

/// One problem with a mutation's input, in its payload.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// The path to the input field, when one is to blame (`["input", "handle"]`,
    /// `["input", "milestones", "1", "amount"]`).
    pub field: Option<Vec<String>>,
    /// What is wrong.
    pub message: String,
    /// The code.
    pub code: Code,
}

impl From<ApiError> for UserError {
    fn from(e: ApiError) -> UserError {
        // `milestones[1].amount` is the path input → milestones → 1 → amount.
        let path = e.field.map(|f| {
            let mut path = vec!["input".to_owned()];
            path.extend(f.split(['.', '[', ']']).filter(|s| !s.is_empty()).map(str::to_owned));
            path
        });
        UserError { field: path, message: e.message, code: e.code }
    }
}

/// The code of a rule's rejection.
pub fn rejection(r: &schema::Rejection) -> ApiError {
    use schema::Rejection as R;
    let code = match r {
        R::MaskNotFound { .. } | R::NotFound { .. } | R::Missing { .. } => Code::NotFound,
        R::NotPermitted { .. } => Code::Forbidden,
        R::InsufficientFunds { .. } => Code::InsufficientFunds,
        R::Refused(schema::ledger::Refusal::IdReused { .. }) => Code::IdempotencyConflict,
        R::Refused(schema::ledger::Refusal::NotPending { .. }) => Code::NotFound,
        R::ListingClosed => Code::ListingClosed,
        R::NotAParty { .. } => Code::NotAParty,
        R::EmptyText { .. } => Code::TextEmpty,
        R::TooLong { .. } => Code::TextTooLong,
        R::InvalidInput { field, reason } if field == "body" && reason.starts_with("at most") => Code::TextTooLong,
        R::PostHidden => Code::PostHidden,
        _ => Code::BadUserInput,
    };
    // Rejections name engine ids; the client knows its own input, so say what without them.
    let message = match r {
        R::MaskNotFound { .. } => "mask not found".to_owned(),
        R::NotFound { kind, .. } => format!("{kind} not found"),
        R::AlreadyExists { .. } => "already exists".to_owned(),
        R::RemixCycle { .. } => "that remix would close a remix cycle".to_owned(),
        R::Refused(schema::ledger::Refusal::IdReused { .. }) => {
            "this idempotency key was used before with other fields".to_owned()
        }
        R::Refused(schema::ledger::Refusal::NotPending { .. }) => "no pending transfer with that id".to_owned(),
        other => other.to_string(),
    };
    let field = match r {
        R::MaskNotFound { .. } => Some("as"),
        R::InvalidHandle { .. } | R::HandleTaken { .. } => Some("handle"),
        R::InvalidInput { field, .. } => Some(field.as_str()),
        R::NotOpen { .. } => Some("proposal"),
        R::Refused(schema::ledger::Refusal::IdReused { .. }) => Some("id"),
        R::InsufficientFunds { .. } => Some("amount"),
        R::ListingClosed => Some("listing"),
        R::EmptyText { field } | R::TooLong { field, .. } => Some(field.as_str()),
        _ => None,
    };
    let mut e = ApiError::new(code, message);
    e.field = field.map(camel_case);
    e
}

/// An input field as the schema names it: the rules say `display_name`, GraphQL `displayName`.
fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Marks parse and validation failures with their codes (GRAPHQL_PARSE_FAILED,
/// GRAPHQL_VALIDATION_FAILED): the HTTP layer picks the status from them.
pub struct Classify;

impl ExtensionFactory for Classify {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ClassifyExtension)
    }
}

struct ClassifyExtension;

fn tag(mut e: ServerError, code: Code) -> ServerError {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code.as_str());
    }
    e
}

#[async_graphql::async_trait::async_trait]
impl Extension for ClassifyExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|e| tag(e, Code::GraphqlParseFailed))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errors| errors.into_iter().map(|e| tag(e, Code::GraphqlValidationFailed)).collect())
    }
}
