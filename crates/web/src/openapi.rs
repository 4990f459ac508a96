//! `GET /openapi.json`: the API description, with every route and the
//! security it needs generated from the API's access table (the same table
//! that mounts the routes and checks them), so the three cannot disagree.

use axum::http::Method;
use serde_json::{json, Map, Value};

use crate::access::{Access, RouteRule};

/// The document's route row: anyone may read it.
pub const RULE: RouteRule = crate::access::rule(Method::GET, "/openapi.json", Access::Public);

/// An OpenAPI 3.1 document for the routes of `table`: paths, parameters
/// named in the templates, the bearer security scheme, the permission each
/// route needs (`x-permission`) and the problem responses every secured route
/// can give.
pub fn document(title: &str, version: &str, table: &[RouteRule]) -> Value {
    let mut paths = Map::new();
    for rule in table {
        let item = paths
            .entry(rule.path.to_owned())
            .or_insert_with(|| json!({}));
        let method = rule.method.as_str().to_ascii_lowercase();
        item[method] = operation(rule);
    }
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
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}
                            }
                        }
                    }
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

fn operation(rule: &RouteRule) -> Value {
    let parameters: Vec<Value> = rule
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut operation = json!({
        "operationId": format!("{} {}", rule.method, rule.path),
        "parameters": parameters,
        "responses": {"default": {"description": "see api.md"}},
    });
    match rule.access {
        Access::Public => operation["security"] = json!([]),
        Access::Requires(permission) => {
            operation["security"] = json!([{"bearer": []}]);
            operation["x-permission"] = json!(permission.as_str());
            let responses = &mut operation["responses"];
            responses["401"] = problem("no valid API key");
            responses["403"] = problem(&format!("the key's role does not hold {permission}"));
            responses["429"] = problem("over the key's request rate; see Retry-After");
        }
    }
    operation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{rule, Permission};

    #[test]
    fn every_route_of_the_table_is_documented_with_its_security() {
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
        let doc = document("test", "1", &table);
        let order = &doc["paths"]["/v1/orders/{id}"]["get"];
        assert_eq!(order["security"], json!([{"bearer": []}]));
        assert_eq!(order["x-permission"], "orders:read");
        assert_eq!(order["parameters"][0]["name"], "id");
        assert!(order["responses"]["403"].is_object());
        assert_eq!(
            doc["paths"]["/v1/orders"]["post"]["x-permission"],
            "orders:place"
        );
        assert_eq!(doc["paths"]["/openapi.json"]["get"]["security"], json!([]));
    }
}
