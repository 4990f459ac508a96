//! `GET /openapi.json`: the API description. Every route and the security it
//! needs come from the API's access table (the table that mounts the routes
//! and checks them); what each route takes and answers comes from the
//! [`Operation`] it was mounted with, built from the handler's own types.

mod operation;

use std::collections::BTreeMap;

use axum::http::Method;
use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

pub use operation::{schema_of, Header, Operation, ParamType, QueryParam, SchemaFn};

/// For `#[schemars(transform = web::openapi::text_without_nul)]` on a
/// request body: its free-text properties refuse NUL, as the command API
/// does for every body (Postgres can store it in neither `text` nor `jsonb`).
pub fn text_without_nul(schema: &mut schemars::Schema) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for property in properties.values_mut() {
        let Value::Object(property) = property else {
            continue;
        };
        let text = match property.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
            _ => false,
        };
        let shaped = ["pattern", "format", "enum", "const"]
            .iter()
            .any(|k| property.contains_key(*k));
        if text && !shaped {
            property.insert("pattern".into(), json!("^[^\\u0000]*$"));
        }
    }
}

/// Most digits of a stream version in `If-Match` (so any fits an `i64`).
pub const IF_MATCH_MAX_DIGITS: usize = 18;

use crate::access::{Access, RouteRule};

/// The document's route row: anyone may read it.
pub const RULE: RouteRule = crate::access::rule(Method::GET, "/openapi.json", Access::Public);

/// Where component schemas live, as `$ref`s name them.
const COMPONENTS: &str = "/components/schemas";

/// The descriptions a router collected, by method and path.
pub type Operations = BTreeMap<(String, &'static str), Operation>;

/// The key of a route in [`Operations`].
pub fn key(method: &Method, path: &'static str) -> (String, &'static str) {
    (method.as_str().to_owned(), path)
}

/// An OpenAPI 3.1 document for the routes of `table`, described by
/// `operations`. Panics when a route of the table has no description: the
/// router mounts a route only with one, so that is a programming error.
pub fn document(title: &str, version: &str, table: &[RouteRule], operations: &Operations) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = COMPONENTS.into();
    settings.meta_schema = None;
    let mut generator = SchemaGenerator::new(settings);
    let mut paths = Map::new();
    for rule in table {
        let described = operations
            .get(&key(&rule.method, rule.path))
            .unwrap_or_else(|| panic!("{} {} has no description", rule.method, rule.path));
        let item = paths
            .entry(rule.path.to_owned())
            .or_insert_with(|| json!({}));
        let method = rule.method.as_str().to_ascii_lowercase();
        item[method] = operation(rule, described, &mut generator);
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert("Problem".into(), problem_schema());
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key: `stockroom_<id>_<secret>`, made with `stockroom keys create`."
                }
            },
            "schemas": schemas,
        }
    })
}

/// RFC 9457 problem details, as every error of both APIs is sent.
fn problem_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "one entry per field that was refused",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}}
                }
            }
        }
    })
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn param_schema(kind: ParamType) -> Value {
    match kind {
        ParamType::Text => json!({"type": "string", "pattern": NO_CONTROL_CHARACTERS}),
        ParamType::Uuid => json!({"type": "string", "format": "uuid"}),
        ParamType::CustomerId => json!({"type": "string", "minLength": 1,
                                        "maxLength": domain::CustomerId::MAX_LEN,
                                        "pattern": domain::CustomerId::PATTERN}),
        // The years 1970 to 9999 (query_api::params::DAYS).
        ParamType::Date => json!({"type": "string", "format": "date",
                                  "pattern": "^(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"}),
        ParamType::Integer { minimum, maximum } => {
            json!({"type": "integer", "minimum": minimum, "maximum": maximum})
        }
        ParamType::OneOf(values) => json!({"type": "string", "enum": values}),
        ParamType::ListOf(values) => {
            let item = format!("(({}) *)?", values.join("|"));
            json!({"type": "string", "pattern": format!("^ *{item}(, *{item})*$")})
        }
    }
}

/// Text that the guards let through: no control character (those are a 400
/// anywhere in a path or query, `guards::reject_control_characters`).
const NO_CONTROL_CHARACTERS: &str = "^[^\\u0000-\\u001F\\u007F]*$";

/// A path parameter's schema, by its name: a name means the same in every
/// route of both APIs.
fn path_param_schema(name: &str, generator: &mut SchemaGenerator) -> Value {
    match name {
        "sku" => generator.subschema_for::<domain::Sku>().to_value(),
        "id" => json!({"type": "string", "format": "uuid"}),
        "code" => generator.subschema_for::<domain::LocationCode>().to_value(),
        _ => json!({"type": "string", "minLength": 1, "pattern": NO_CONTROL_CHARACTERS}),
    }
}

fn header_parameter(header: Header) -> Value {
    match header {
        Header::IdempotencyKey => json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Retrying with the same key and body replays the first answer (marked `Idempotent-Replayed: true`); the same key with another body is refused.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}
        }),
        Header::IfMatch => json!({
            "name": "If-Match", "in": "header", "required": false,
            "description": "The stream version the command expects, quoted: `\"3\"`. Another version answers 412; an empty value states no condition, as no header.",
            "schema": {"type": "string", "pattern": format!("^(\"[0-9]{{1,{IF_MATCH_MAX_DIGITS}}}\"|[ \\t]*)$")}
        }),
        Header::MinPosition => json!({
            "name": "X-Min-Position", "in": "header", "required": false,
            "description": "Wait until the read model has applied this log position (a command's `position`); `?min_position=` does the same. A position the log has not handed out yet is a 400.",
            "schema": {"type": "integer", "minimum": 0, "maximum": i64::MAX}
        }),
    }
}

fn operation(rule: &RouteRule, described: &Operation, generator: &mut SchemaGenerator) -> Value {
    let path_params: Vec<&str> = rule
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    let mut parameters: Vec<Value> = path_params
        .iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_param_schema(name, generator)}))
        .collect();
    parameters.extend(described.query.iter().map(|p| {
        json!({"name": p.name, "in": "query", "required": false,
               "description": p.description, "schema": param_schema(p.kind)})
    }));
    let reads_projections = described.headers.contains(&Header::MinPosition);
    if reads_projections {
        parameters.push(json!({
            "name": "min_position", "in": "query", "required": false,
            "description": "the same as `X-Min-Position` (given both, the read waits for the larger)",
            "schema": {"type": "integer", "minimum": 0, "maximum": i64::MAX}
        }));
    }
    parameters.extend(described.headers.iter().map(|h| header_parameter(*h)));

    let mut responses = Map::new();
    for answer in &described.answers {
        let mut content = json!({});
        if let Some(schema) = answer.schema {
            content["schema"] = schema(generator).to_value();
        }
        // One status may answer in several media types (JSON or CSV).
        let response = responses
            .entry(answer.status.to_string())
            .or_insert_with(|| json!({"description": answer.description, "content": {}}));
        response["content"][answer.media_type] = content;
        if reads_projections {
            response["headers"] = json!({"X-Projection-Position": {
                "description": "the log position the read model had applied when it answered",
                "schema": {"type": "integer"}
            }});
        }
    }
    // A route's own answer for a status wins over the generic problem.
    let mut problems = |status: u16, description: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| problem(description));
    };
    if described.body.is_some() {
        problems(
            400,
            "the body is not JSON, a header is malformed, or the path holds a control character",
        );
        problems(413, "the body is over the size limit");
        problems(415, "the body is not declared as `application/json`");
        problems(
            422,
            "a field is missing, of the wrong type or refused (`errors` names each)",
        );
    } else if reads_projections {
        problems(
            400,
            "a query parameter is unknown, given twice or invalid (`errors` names it), which \
             includes what only the server can know: a `cursor` no earlier page returned, \
             and an `X-Min-Position` or `min_position` the log has not handed out yet",
        );
    } else if !described.query.is_empty() {
        problems(
            400,
            "a query parameter is unknown, given twice or invalid (`errors` names it)",
        );
    }
    // The guards refuse a control character anywhere in a path or query.
    problems(400, "the path or query holds a control character");
    if described.headers.contains(&Header::IdempotencyKey) {
        problems(409, "refused by the aggregate's rules in its current state, or the Idempotency-Key was used with another request");
    }
    if described.headers.contains(&Header::IfMatch) {
        problems(412, "`If-Match` named another version than the stream's");
    }
    if !path_params.is_empty() {
        problems(
            404,
            "nothing by that name (or not visible to the key's sales channel)",
        );
    }
    problems(
        503,
        "a dependency is unavailable or the wait timed out; see Retry-After",
    );

    let mut operation = json!({
        "operationId": format!("{} {}", rule.method, rule.path),
        "summary": described.summary,
        "parameters": parameters,
    });
    if let Some((schema, example)) = &described.body {
        let schema = schema(generator).to_value();
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema, "example": example}}
        });
    }
    match rule.access {
        Access::Public => operation["security"] = json!([]),
        Access::Requires(permission) => {
            operation["security"] = json!([{"bearer": []}]);
            operation["x-permission"] = json!(permission.as_str());
            responses.insert("401".into(), problem("no valid API key"));
            responses.insert(
                "403".into(),
                problem(&format!("the key's role does not hold {permission}")),
            );
            responses.insert(
                "429".into(),
                problem("over the key's request rate; see Retry-After"),
            );
        }
    }
    operation["responses"] = Value::Object(responses);
    operation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{rule, Permission};
    use schemars::JsonSchema;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Body {
        name: String,
    }

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Answer {
        id: String,
    }

    const FILTERS: &[QueryParam] = &[QueryParam {
        name: "status",
        description: "only orders in this status",
        kind: ParamType::OneOf(&["placed", "paid"]),
    }];

    #[test]
    fn every_route_is_documented_with_its_security_types_and_problems() {
        let table = [
            rule(
                Method::GET,
                "/v1/orders/{id}",
                Access::Requires(Permission::OrdersRead),
            ),
            rule(
                Method::POST,
                "/v1/orders",
                Access::Requires(Permission::OrdersPlace),
            ),
            RULE,
        ];
        let mut operations = Operations::new();
        operations.insert(
            key(&Method::GET, "/v1/orders/{id}"),
            Operation::new("read")
                .read(FILTERS)
                .answers::<Answer>(200, "the order"),
        );
        operations.insert(
            key(&Method::POST, "/v1/orders"),
            Operation::new("place")
                .command::<Body>(json!({"name": "x"}), true)
                .answers::<Answer>(202, "placed"),
        );
        operations.insert(
            key(&Method::GET, "/openapi.json"),
            Operation::new("this document"),
        );
        let doc = document("test", "1", &table, &operations);
        let order = &doc["paths"]["/v1/orders/{id}"]["get"];
        assert_eq!(order["security"], json!([{"bearer": []}]));
        assert_eq!(order["x-permission"], "orders:read");
        assert_eq!(order["parameters"][0]["name"], "id");
        assert_eq!(
            order["parameters"][1]["schema"]["enum"],
            json!(["placed", "paid"])
        );
        assert!(order["responses"]["403"].is_object());
        assert!(order["responses"]["404"].is_object());
        assert_eq!(
            order["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Answer"
        );
        let place = &doc["paths"]["/v1/orders"]["post"];
        assert_eq!(place["x-permission"], "orders:place");
        assert_eq!(
            place["requestBody"]["content"]["application/json"]["example"],
            json!({"name": "x"})
        );
        assert!(place["responses"]["409"].is_object());
        assert!(
            place["responses"]["412"].is_null(),
            "a new stream has no version to match"
        );
        assert_eq!(
            doc["components"]["schemas"]["Body"]["required"],
            json!(["name"])
        );
        assert_eq!(doc["paths"]["/openapi.json"]["get"]["security"], json!([]));
    }

    #[test]
    #[should_panic(expected = "has no description")]
    fn a_route_without_a_description_cannot_be_documented() {
        document("test", "1", &[RULE], &Operations::new());
    }
}
