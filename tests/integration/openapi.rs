//! The OpenAPI documents against the running APIs: every documented example
//! is sent, and every answer must match the schema documented for its status.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::shop::wait_status;
use crate::support::System;

/// One API's document, with helpers to look its operations up.
struct Document(Value);

impl Document {
    async fn fetch(sys: &System, base: &str) -> Self {
        let r = sys
            .client()
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        Self(r.json().await.unwrap())
    }

    fn operation(&self, method: &Method, path: &str) -> &Value {
        let operation = &self.0["paths"][path][method.as_str().to_ascii_lowercase()];
        assert!(operation.is_object(), "{method} {path} is documented");
        operation
    }

    fn example(&self, method: &Method, path: &str) -> Value {
        let body = &self.operation(method, path)["requestBody"]["content"]["application/json"];
        self.assert_matches(
            &body["schema"],
            &body["example"],
            &format!("example of {method} {path}"),
        );
        body["example"].clone()
    }

    /// Fails unless `instance` matches `schema` (which may point into the
    /// document's components), formats included.
    fn assert_matches(&self, schema: &Value, instance: &Value, what: &str) {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.0["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the schema for {what} compiles: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}: {errors:?}\n{instance:#}");
    }

    /// Fails unless the answer's status is documented for the operation and
    /// its body matches that status's schema; returns the body.
    async fn check(&self, method: &Method, path: &str, response: reqwest::Response) -> Value {
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        // An event stream never ends: its status and media type are the answer.
        let text = if media == "text/event-stream" {
            String::new()
        } else {
            response.text().await.unwrap()
        };
        let documented = &self.operation(method, path)["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {status}, which is not documented: {text}"
        );
        let content = &documented["content"][&media];
        assert!(
            content.is_object(),
            "{method} {path} {status} answered {media}, which is not documented"
        );
        if !media.ends_with("json") {
            return Value::Null;
        }
        let body: Value = serde_json::from_str(&text).unwrap();
        if content["schema"].is_object() {
            self.assert_matches(
                &content["schema"],
                &body,
                &format!("{method} {path} {status}"),
            );
        }
        body
    }
}

/// The command API, driven by its own documented examples.
struct Story<'a> {
    sys: &'a System,
    doc: &'a Document,
}

impl Story<'_> {
    /// Sends the operation's documented example to the path `template` names,
    /// with `id` for its `{sku}`, `{id}` or `{code}`; the answer must be the
    /// operation's documented success.
    async fn send(&self, method: Method, template: &str, id: &str) -> Value {
        let example = self.doc.example(&method, template);
        let path = template
            .replace("{sku}", id)
            .replace("{id}", id)
            .replace("{code}", id);
        let response = self
            .sys
            .client()
            .request(method.clone(), format!("{}{path}", self.sys.command_url()))
            .json(&example)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = self.doc.check(&method, template, response).await;
        assert!(status.is_success(), "{method} {template}: {status} {body}");
        body
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_examples_are_accepted_and_every_answer_matches_its_schema() {
    let sys = System::start().await;
    let commands = Document::fetch(&sys, sys.command_url()).await;
    let queries = Document::fetch(&sys, sys.query_url()).await;

    // The examples tell one story: a product, its stock, an order paid and
    // shipped, another cancelled, a cart hold changed, extended and
    // released, and the product discontinued.
    let story = Story {
        sys: &sys,
        doc: &commands,
    };
    let product = story.send(Method::POST, "/v1/products", "").await;
    let sku = product["sku"].as_str().unwrap().to_owned();
    for (method, template) in [
        (Method::PUT, "/v1/products/{sku}/price"),
        (Method::POST, "/v1/stock/{sku}/receipts"),
        (Method::POST, "/v1/stock/{sku}/adjustments"),
        (Method::POST, "/v1/stock/{sku}/counts"),
    ] {
        story.send(method, template, &sku).await;
    }
    story.send(Method::POST, "/v1/locations", "").await;
    story
        .send(Method::POST, "/v1/locations/{code}/deactivate", "berlin-1")
        .await;
    let placed = story.send(Method::POST, "/v1/orders", "").await;
    let order = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(&sys, &order, "confirmed", Duration::from_secs(60)).await;
    story
        .send(Method::POST, "/v1/orders/{id}/payments", &order)
        .await;
    story
        .send(Method::POST, "/v1/orders/{id}/shipments", &order)
        .await;
    let requested = story
        .send(Method::POST, "/v1/orders/{id}/returns", &order)
        .await;
    let return_id = requested["return_id"].as_str().unwrap().to_owned();
    story
        .send(Method::POST, "/v1/returns/{id}/receipts", &return_id)
        .await;
    story
        .send(Method::POST, "/v1/orders/{id}/refunds", &order)
        .await;
    let second = story.send(Method::POST, "/v1/orders", "").await;
    let second = second["order_id"].as_str().unwrap();
    story
        .send(Method::POST, "/v1/orders/{id}/cancellations", second)
        .await;
    let held = story.send(Method::POST, "/v1/holds", "").await;
    let hold_id = held["hold_id"].as_str().unwrap().to_owned();
    for (method, template) in [
        (Method::PUT, "/v1/holds/{id}"),
        (Method::POST, "/v1/holds/{id}/extensions"),
        (Method::POST, "/v1/holds/{id}/releases"),
    ] {
        story.send(method, template, &hold_id).await;
    }
    story
        .send(Method::POST, "/v1/products/{sku}/discontinue", &sku)
        .await;

    // A refused body answers the documented problem.
    let url = format!("{}/v1/products", sys.command_url());
    let refused = sys
        .client()
        .post(url)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    commands.check(&Method::POST, "/v1/products", refused).await;

    // Every read of the query API, waiting for the last write.
    let last: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    let paths: Vec<String> = queries.0["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for template in paths {
        let operation = queries.operation(&Method::GET, &template);
        let id = if template.starts_with("/v1/returns/") {
            &return_id
        } else if template.starts_with("/v1/holds/") {
            &hold_id
        } else {
            &order
        };
        let mut request = sys.client().get(format!(
            "{}{}",
            sys.query_url(),
            template
                .replace("{sku}", &sku)
                .replace("{id}", id)
                .replace("{stream_id}", &format!("order-{order}"))
                .replace("{code}", "default")
        ));
        let waits = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "X-Min-Position");
        if waits {
            request = request.header("X-Min-Position", last.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = queries.check(&Method::GET, &template, response).await;
        assert_eq!(status, 200, "GET {template}: {body}");
        if template == "/v1/orders/{id}/history" {
            let types: Vec<&str> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_type"].as_str().unwrap())
                .collect();
            assert_eq!(
                types,
                [
                    "OrderPlaced",
                    "OrderConfirmed",
                    "OrderPaid",
                    "OrderShipped",
                    "ReturnRequested",
                    "ReturnReceived",
                    "OrderRefunded"
                ]
            );
        }
    }

    // The CSV answers are documented too.
    let csv = sys
        .client()
        .get(format!("{}/v1/analytics/top-products", sys.query_url()))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    queries
        .check(&Method::GET, "/v1/analytics/top-products", csv)
        .await;
}
