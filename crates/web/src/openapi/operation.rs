//! What one route takes and answers, described from the handler's own types:
//! the builder each route is mounted with, so a route cannot be mounted
//! without its description.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

/// Produces a type's schema, registering the types it names as components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema function of `T`.
pub fn schema_of<T: JsonSchema>() -> SchemaFn {
    |generator| generator.subschema_for::<T>()
}

/// The JSON type of a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Free text.
    Text,
    /// A UUID.
    Uuid,
    /// A shop's customer id (`domain::CustomerId`).
    CustomerId,
    /// A calendar day, `YYYY-MM-DD`.
    Date,
    /// A whole number within bounds.
    Integer {
        /// The smallest value accepted.
        minimum: i64,
        /// The largest value accepted.
        maximum: i64,
    },
    /// One of a fixed list.
    OneOf(&'static [&'static str]),
    /// Any of a fixed list, comma-separated (spaces and empty items allowed).
    ListOf(&'static [&'static str]),
}

/// One query-string parameter a route accepts: the one list that both the
/// route's parser and its documentation read.
#[derive(Debug, Clone, Copy)]
pub struct QueryParam {
    /// The parameter's name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its type.
    pub kind: ParamType,
}

/// A request header with a meaning in the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Makes a command safe to retry (commands).
    IdempotencyKey,
    /// Makes a command conditional on the stream's version (commands).
    IfMatch,
    /// Makes a read wait for a log position (reads of projections).
    MinPosition,
}

/// A success answer: its status, what it means and its body's schema
/// (`None` for a body that is not JSON).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub schema: Option<SchemaFn>,
    pub media_type: &'static str,
}

/// The description of one route.
#[derive(Debug, Clone)]
pub struct Operation {
    pub(crate) summary: &'static str,
    pub(crate) body: Option<(SchemaFn, Value)>,
    pub(crate) answers: Vec<Answer>,
    pub(crate) query: &'static [QueryParam],
    pub(crate) headers: Vec<Header>,
}

impl Operation {
    /// A route that does `summary`.
    pub fn new(summary: &'static str) -> Self {
        Self {
            summary,
            body: None,
            answers: Vec::new(),
            query: &[],
            headers: Vec::new(),
        }
    }

    /// A command: a JSON body of type `T` (with a valid example), which
    /// accepts `Idempotency-Key` and, unless it creates its stream, `If-Match`.
    pub fn command<T: JsonSchema>(self, example: Value, creates_stream: bool) -> Self {
        let mut operation = self.body::<T>(example).header(Header::IdempotencyKey);
        if !creates_stream {
            operation = operation.header(Header::IfMatch);
        }
        operation
    }

    /// A JSON request body of type `T`, with a valid example.
    pub fn body<T: JsonSchema>(mut self, example: Value) -> Self {
        self.body = Some((schema_of::<T>(), example));
        self
    }

    /// Answers `status` with a JSON body of type `T`.
    pub fn answers<T: JsonSchema>(mut self, status: u16, description: &'static str) -> Self {
        self.answers.push(Answer {
            status,
            description,
            schema: Some(schema_of::<T>()),
            media_type: "application/json",
        });
        self
    }

    /// Answers `status` with a body of `media_type` that has no JSON schema.
    pub fn answers_text(
        mut self,
        status: u16,
        description: &'static str,
        media_type: &'static str,
    ) -> Self {
        self.answers.push(Answer {
            status,
            description,
            schema: None,
            media_type,
        });
        self
    }

    /// A read of projections: query parameters `params`, `X-Min-Position`.
    pub fn read(self, params: &'static [QueryParam]) -> Self {
        self.query(params).header(Header::MinPosition)
    }

    /// Accepts the query parameters `params`.
    pub fn query(mut self, params: &'static [QueryParam]) -> Self {
        self.query = params;
        self
    }

    /// Accepts `header`.
    pub fn header(mut self, header: Header) -> Self {
        self.headers.push(header);
        self
    }
}
