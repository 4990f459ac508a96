//! Who may do what: roles, the permissions they hold, and the one table per
//! API that declares what every route needs. Deny by default: a route that is
//! not in its table cannot be mounted, and a role holds only what it lists.

use std::fmt;
use std::str::FromStr;

use axum::http::Method;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Register products, change prices, discontinue.
    ProductsWrite,
    /// Receive and adjust stock.
    StockWrite,
    /// Place orders.
    OrdersPlace,
    /// Record payments.
    OrdersPay,
    /// Ship orders.
    OrdersShip,
    /// Cancel orders.
    OrdersCancel,
    /// Read orders.
    OrdersRead,
    /// Read products and stock.
    CatalogueRead,
    /// Read a SKU's movements, with the orders behind them.
    StockHistoryRead,
    /// Read analytics.
    AnalyticsRead,
    /// Read projection status and metrics.
    OperationsRead,
    /// Rebuild and verify projections, retry parked events (the console;
    /// admins only).
    OperationsWrite,
    /// Read the event feed and single streams: every event of the log, or,
    /// for a storefront key, its own channel's orders' events with every
    /// product and stock event.
    EventsRead,
    /// Register and deactivate locations.
    LocationsWrite,
    /// Read locations.
    LocationsRead,
    /// Request returns of an order's shipped units.
    ReturnsRequest,
    /// Record receipts of returned units.
    ReturnsReceive,
    /// Refund orders.
    OrdersRefund,
    /// Place, change, extend and release cart holds.
    HoldsWrite,
    /// Read cart holds.
    HoldsRead,
}

impl Permission {
    /// The name a 403 gives.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductsWrite => "products:write",
            Self::StockWrite => "stock:write",
            Self::OrdersPlace => "orders:place",
            Self::OrdersPay => "orders:pay",
            Self::OrdersShip => "orders:ship",
            Self::OrdersCancel => "orders:cancel",
            Self::OrdersRead => "orders:read",
            Self::CatalogueRead => "catalogue:read",
            Self::StockHistoryRead => "stock-history:read",
            Self::AnalyticsRead => "analytics:read",
            Self::OperationsRead => "operations:read",
            Self::OperationsWrite => "operations:write",
            Self::EventsRead => "events:read",
            Self::LocationsWrite => "locations:write",
            Self::LocationsRead => "locations:read",
            Self::ReturnsRequest => "returns:request",
            Self::ReturnsReceive => "returns:receive",
            Self::OrdersRefund => "orders:refund",
            Self::HoldsWrite => "holds:write",
            Self::HoldsRead => "holds:read",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key's role (api.md, Access v1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A shop frontend bound to one sales channel.
    Storefront,
    /// Shop staff.
    Staff,
    /// Warehouse people: stock and shipments.
    Warehouse,
    /// The payment provider's integration.
    Payments,
    /// Analysts.
    Analyst,
    /// Operators of the installation.
    Operator,
    /// Another team's process reading the event feed.
    Subscriber,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 8] = [
        Self::Storefront,
        Self::Staff,
        Self::Warehouse,
        Self::Payments,
        Self::Analyst,
        Self::Operator,
        Self::Subscriber,
        Self::Admin,
    ];

    /// The role's name as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Storefront => "storefront",
            Self::Staff => "staff",
            Self::Warehouse => "warehouse",
            Self::Payments => "payments",
            Self::Analyst => "analyst",
            Self::Operator => "operator",
            Self::Subscriber => "subscriber",
            Self::Admin => "admin",
        }
    }

    /// Whether the role holds `permission`. Object-level rules (a storefront
    /// sees only its own channel's orders) are checked where the object is.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::Admin => true,
            Self::Storefront => matches!(
                permission,
                OrdersPlace
                    | OrdersCancel
                    | OrdersRead
                    | CatalogueRead
                    | EventsRead
                    | ReturnsRequest
                    | HoldsWrite
                    | HoldsRead
            ),
            Self::Staff => matches!(
                permission,
                ProductsWrite
                    | StockWrite
                    | OrdersShip
                    | OrdersCancel
                    | OrdersRead
                    | CatalogueRead
                    | StockHistoryRead
                    | LocationsWrite
                    | LocationsRead
                    | ReturnsRequest
                    | ReturnsReceive
                    | OrdersRefund
                    | HoldsWrite
                    | HoldsRead
            ),
            Self::Warehouse => matches!(
                permission,
                StockWrite
                    | OrdersShip
                    | OrdersRead
                    | CatalogueRead
                    | LocationsRead
                    | ReturnsReceive
            ),
            Self::Payments => matches!(permission, OrdersPay | OrdersRead | OrdersRefund),
            Self::Analyst => matches!(permission, AnalyticsRead | CatalogueRead),
            Self::Operator => matches!(permission, OperationsRead),
            Self::Subscriber => matches!(permission, EventsRead),
        }
    }

    /// Requests per second a key of this role may make, unless the key says
    /// otherwise.
    pub fn default_rate(self) -> u32 {
        match self {
            Self::Storefront | Self::Payments => 100,
            Self::Staff | Self::Warehouse => 50,
            Self::Analyst | Self::Operator => 20,
            Self::Subscriber => 50,
            Self::Admin => 1000,
        }
    }

    /// Whether keys of this role must name a channel.
    pub fn needs_channel(self) -> bool {
        self == Self::Storefront
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {s:?} (one of {})", names.join(", "))
            })
    }
}

/// What a route needs: nothing, or a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (probes, the API description).
    Public,
    /// An authenticated key whose role holds the permission.
    Requires(Permission),
}

/// One row of an API's route table.
#[derive(Debug, Clone)]
pub struct RouteRule {
    /// HTTP method.
    pub method: Method,
    /// Path template as axum routes it, such as `/v1/orders/{id}`.
    pub path: &'static str,
    /// What it needs.
    pub access: Access,
}

/// Shorthand for a table row.
pub const fn rule(method: Method, path: &'static str, access: Access) -> RouteRule {
    RouteRule {
        method,
        path,
        access,
    }
}

/// The access `table` declares for `method path`, if any.
pub fn lookup(table: &[RouteRule], method: &Method, path: &str) -> Option<Access> {
    table
        .iter()
        .find(|r| r.method == method && r.path == path)
        .map(|r| r.access)
}

/// Paths the table leaves public, for authentication to let through.
pub fn public_paths(table: &[RouteRule]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| r.path)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table_of_api_md() {
        use Permission::*;
        let all = [
            ProductsWrite,
            StockWrite,
            OrdersPlace,
            OrdersPay,
            OrdersShip,
            OrdersCancel,
            OrdersRead,
            CatalogueRead,
            AnalyticsRead,
            OperationsRead,
            EventsRead,
        ];
        let holds = |role: Role| -> Vec<Permission> {
            all.iter().copied().filter(|p| role.allows(*p)).collect()
        };
        assert_eq!(
            holds(Role::Storefront),
            vec![
                OrdersPlace,
                OrdersCancel,
                OrdersRead,
                CatalogueRead,
                EventsRead
            ]
        );
        assert_eq!(
            holds(Role::Staff),
            vec![
                ProductsWrite,
                StockWrite,
                OrdersShip,
                OrdersCancel,
                OrdersRead,
                CatalogueRead
            ]
        );
        assert_eq!(holds(Role::Payments), vec![OrdersPay, OrdersRead]);
        assert_eq!(holds(Role::Analyst), vec![CatalogueRead, AnalyticsRead]);
        assert_eq!(holds(Role::Operator), vec![OperationsRead]);
        assert_eq!(holds(Role::Subscriber), vec![EventsRead]);
        assert_eq!(holds(Role::Admin), all.to_vec());
    }

    /// api.md, Roles (v1.2): who may request returns, record their
    /// receipts and refund.
    #[test]
    fn the_returns_and_refunds_roles_of_api_md() {
        use Permission::*;
        let holders = |p: Permission| -> Vec<Role> {
            Role::ALL.into_iter().filter(|r| r.allows(p)).collect()
        };
        assert_eq!(
            holders(ReturnsRequest),
            vec![Role::Storefront, Role::Staff, Role::Admin]
        );
        assert_eq!(
            holders(ReturnsReceive),
            vec![Role::Staff, Role::Warehouse, Role::Admin]
        );
        assert_eq!(
            holders(OrdersRefund),
            vec![Role::Staff, Role::Payments, Role::Admin]
        );
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("storefront"));
    }
}
