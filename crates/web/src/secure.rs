//! Mounting routes through their API's access table: a route the table does
//! not declare cannot be mounted (the router refuses to build), and each
//! route gets the permission check the table names.

use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn;
use axum::routing::{self, MethodRouter};
use axum::Router;

use std::sync::Arc;

use crate::access::{lookup, public_paths, Access, RouteRule};
use crate::auth::{authorize, AuthLayerState, Authenticator};
use crate::layers::{apply, HttpLimits};
use crate::openapi::{Operation, Operations};

/// A router whose every route is checked against `table`.
pub struct SecureRouter<S> {
    router: Router<S>,
    table: &'static [RouteRule],
    operations: Operations,
}

impl<S: Clone + Send + Sync + 'static> SecureRouter<S> {
    /// An empty router governed by `table`.
    pub fn new(table: &'static [RouteRule]) -> Self {
        Self {
            router: Router::new(),
            table,
            operations: Operations::new(),
        }
    }

    fn mount(
        mut self,
        method: Method,
        path: &'static str,
        handler: MethodRouter<S>,
        operation: Operation,
    ) -> Self {
        let access = lookup(self.table, &method, path).unwrap_or_else(|| {
            panic!("{method} {path} is not in its API's access table: declare what it needs")
        });
        let handler = match access {
            Access::Public => handler,
            Access::Requires(permission) => handler.route_layer(from_fn(move |request, next| {
                authorize(permission, request, next)
            })),
        };
        self.router = self.router.route(path, handler);
        self.operations
            .insert(crate::openapi::key(&method, path), operation);
        self
    }

    /// Mounts a GET route described by `operation`.
    pub fn get<H: Handler<T, S>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
        operation: Operation,
    ) -> Self {
        self.mount(Method::GET, path, routing::get(handler), operation)
    }

    /// Mounts a POST route described by `operation`.
    pub fn post<H: Handler<T, S>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
        operation: Operation,
    ) -> Self {
        self.mount(Method::POST, path, routing::post(handler), operation)
    }

    /// Mounts a PUT route described by `operation`.
    pub fn put<H: Handler<T, S>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
        operation: Operation,
    ) -> Self {
        self.mount(Method::PUT, path, routing::put(handler), operation)
    }

    /// Mounts `GET /openapi.json`, generated from the table (which must
    /// carry [`crate::openapi::RULE`]).
    pub fn openapi(mut self, title: &'static str) -> Self {
        self.operations.insert(
            crate::openapi::key(&Method::GET, crate::openapi::RULE.path),
            Operation::new("this document").answers_text(
                200,
                "an OpenAPI 3.1 document",
                "application/json",
            ),
        );
        let document = crate::openapi::document(
            title,
            env!("CARGO_PKG_VERSION"),
            self.table,
            &self.operations,
        );
        let handler = move || {
            let document = document.clone();
            async move { axum::Json(document) }
        };
        let operation =
            self.operations[&crate::openapi::key(&Method::GET, "/openapi.json")].clone();
        self.mount(
            Method::GET,
            "/openapi.json",
            routing::get(handler),
            operation,
        )
    }

    /// The plain router.
    pub fn into_router(self) -> Router<S> {
        self.router
    }

    /// The finished API: the routes with their state, wrapped in the shared
    /// stack with authentication that lets the table's public paths through.
    pub fn build(self, state: S, limits: HttpLimits, authenticator: Authenticator) -> Router {
        let auth = AuthLayerState {
            authenticator,
            public: Arc::new(public_paths(self.table)),
        };
        apply(self.router.with_state(state), limits, auth)
    }
}
