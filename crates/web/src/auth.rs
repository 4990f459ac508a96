//! Authentication and authorization of every request.
//!
//! Two layers: `authenticate` runs before routing and before anything reads
//! the body — a request without a valid key is a 401 whatever else is wrong
//! with it — and applies the key's rate limit; `authorize` runs on each route
//! with the permission its API's table declares.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use store::keys::{self, ParsedToken, StoredKey};
use tokio::sync::{watch, Semaphore};
use uuid::Uuid;

use crate::access::{Permission, Role};
use crate::client_limit::LookupsPerClient;
use crate::Problem;

/// The channel the key table notifies on changes.
pub const KEYS_CHANNEL: &str = "stockroom_keys";

/// Longest a verified key is trusted without looking again: revocation
/// reaches every process within this even if a notification is lost (twice
/// this while one request is refreshing the key).
const CACHE_TTL: Duration = Duration::from_secs(1);

/// Longest `Authorization` header looked at; longer ones are refused unread.
const MAX_TOKEN_LEN: usize = 256;

/// Bounds on what requests with made-up keys can cost.
#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    /// Keys the cache holds at most; past it, expired entries are swept
    /// and unknown keys are no longer remembered.
    pub max_cached_keys: usize,
    /// Key lookups against the database at once, for the whole process.
    pub max_concurrent_lookups: usize,
    /// Longest a request waits for a lookup slot before a 503.
    pub lookup_wait: Duration,
    /// Lookups of keys not in the cache per client address (IPv6 by /64)
    /// per second; more are a 429 without a lookup.
    pub lookups_per_client: u32,
}

impl Default for AuthLimits {
    fn default() -> Self {
        Self {
            max_cached_keys: 10_000,
            max_concurrent_lookups: 8,
            lookup_wait: Duration::from_millis(250),
            lookups_per_client: 20,
        }
    }
}

/// Who is calling: an authenticated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id.
    pub key_id: Uuid,
    /// Its role.
    pub role: Role,
    /// The channel a storefront key is bound to.
    pub channel: Option<String>,
}

impl Principal {
    /// The actor every event appended on this principal's behalf records.
    pub fn actor(&self) -> String {
        format!("key:{}", self.key_id)
    }

    /// The scope of this principal's `Idempotency-Key` values.
    pub fn idempotency_scope(&self) -> String {
        self.key_id.to_string()
    }
}

/// Why a request was not authenticated (a metric label; never shown to the
/// client, whose 401 is the same whatever the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Missing,
    Malformed,
    Unknown,
    WrongSecret,
    Expired,
    Revoked,
    Unavailable,
    /// Every lookup slot stayed taken.
    Busy,
    /// The client address is over its lookups.
    Throttled,
}

/// Every reason `stockroom_auth_failures_total` counts, authentication's
/// and authorization's.
const FAILURE_REASONS: [&str; 11] = [
    "missing",
    "malformed",
    "unknown",
    "wrong_secret",
    "expired",
    "revoked",
    "unavailable",
    "forbidden",
    "rate_limited",
    "busy",
    "throttled",
];

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::WrongSecret => "wrong_secret",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Unavailable => "unavailable",
            Self::Busy => "busy",
            Self::Throttled => "throttled",
        }
    }
}

struct Cached {
    key: Option<StoredKey>,
    fetched: Instant,
    touched: Option<Instant>,
    /// A request is fetching a fresh copy.
    refreshing: bool,
}

/// A key's rate limiter and the rate it was made for.
type Limiter = (u32, Arc<DefaultDirectRateLimiter>);

/// Verifies keys against the database with a short cache, and holds each
/// key's rate limiter.
#[derive(Clone)]
pub struct Authenticator {
    pool: PgPool,
    cache: Arc<Mutex<HashMap<Uuid, Cached>>>,
    /// When the cache was last swept of expired entries.
    swept: Arc<Mutex<Instant>>,
    limiters: Arc<Mutex<HashMap<Uuid, Limiter>>>,
    limits: AuthLimits,
    lookups: Arc<Semaphore>,
    per_client: LookupsPerClient,
}

impl Authenticator {
    /// An authenticator over the key table in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self::with_limits(pool, AuthLimits::default())
    }

    /// An authenticator over the key table in `pool`, within `limits`.
    pub fn with_limits(pool: PgPool, limits: AuthLimits) -> Self {
        // Every reason is on /metrics from the start, at 0 until it happens.
        for reason in FAILURE_REASONS {
            metrics::counter!("stockroom_auth_failures_total", "reason" => reason).increment(0);
        }
        Self {
            pool,
            cache: Arc::default(),
            swept: Arc::new(Mutex::new(Instant::now())),
            limiters: Arc::default(),
            lookups: Arc::new(Semaphore::new(limits.max_concurrent_lookups.max(1))),
            per_client: LookupsPerClient::new(limits.lookups_per_client),
            limits,
        }
    }

    /// How many keys, known or unknown, the cache holds.
    pub fn cached_keys(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Drops cached keys as soon as the table says they changed, until
    /// `shutdown`. The cache's short lifetime covers the gaps while the
    /// listener reconnects.
    pub async fn listen(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                Err(e) = self.forget_on_notice() => {
                    tracing::debug!(error = %e, "key listener lost its connection; reconnecting");
                }
                _ = shutdown.wait_for(|stopped| *stopped) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    /// Forgets each key the table notifies about; returns only on failure.
    async fn forget_on_notice(&self) -> Result<std::convert::Infallible, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(KEYS_CHANNEL).await?;
        loop {
            let notification = listener.recv().await?;
            if let Ok(id) = Uuid::parse_str(notification.payload()) {
                self.forget(id);
            }
        }
    }

    fn forget(&self, id: Uuid) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    async fn stored(&self, id: Uuid, client: Option<IpAddr>) -> Result<Option<StoredKey>, Failure> {
        let cached = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get_mut(&id) {
                Some(hit) => {
                    let age = hit.fetched.elapsed();
                    // One request refreshes an expired key; the others keep
                    // using it meanwhile (a refresh takes milliseconds), instead
                    // of every request in flight asking the database at once.
                    if age < CACHE_TTL || (hit.refreshing && age < CACHE_TTL * 2) {
                        return Ok(hit.key.clone());
                    }
                    hit.refreshing = true;
                    true
                }
                None => false,
            }
        };
        // Only keys the cache has never seen count against the client: a
        // real key's refreshes do not, so clients behind one proxy share
        // nothing but their made-up keys.
        if !cached && client.is_some_and(|c| !self.per_client.admit(c)) {
            return Err(Failure::Throttled);
        }
        let found =
            match tokio::time::timeout(self.limits.lookup_wait, self.lookups.acquire()).await {
                Ok(Ok(_slot)) => keys::find(&self.pool, id).await.map_err(|e| {
                    tracing::error!(error = %store::error_chain(&e), "cannot look up an API key");
                    Failure::Unavailable
                }),
                _ => Err(Failure::Busy),
            };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let key = match found {
            Ok(key) => key,
            Err(failure) => {
                if let Some(hit) = cache.get_mut(&id) {
                    hit.refreshing = false;
                }
                return Err(failure);
            }
        };
        if !self.make_room(&mut cache, id) && key.is_none() {
            // Full of recent entries: a made-up key is not remembered.
            return Ok(None);
        }
        let touched = cache.get(&id).and_then(|c| c.touched);
        cache.insert(
            id,
            Cached {
                key: key.clone(),
                fetched: Instant::now(),
                touched,
                refreshing: false,
            },
        );
        Ok(key)
    }

    /// Whether `id` may be cached: it is already, or there is room, made if
    /// need be by sweeping expired entries (at most once per TTL, so a
    /// flood of made-up keys does not sweep on every request).
    fn make_room(&self, cache: &mut HashMap<Uuid, Cached>, id: Uuid) -> bool {
        let max = self.limits.max_cached_keys;
        if cache.len() < max || cache.contains_key(&id) {
            return true;
        }
        let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
        if swept.elapsed() >= CACHE_TTL {
            *swept = Instant::now();
            cache.retain(|_, c| c.refreshing || c.fetched.elapsed() < CACHE_TTL);
        }
        cache.len() < max
    }

    /// Records the key's use at most once a minute, off the request path.
    fn touch(&self, id: Uuid) {
        let due = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get_mut(&id) {
                Some(c)
                    if c.touched
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) =>
                {
                    c.touched = Some(Instant::now());
                    true
                }
                _ => false,
            }
        };
        if due {
            let pool = self.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = keys::touch(&pool, id).await {
                    tracing::debug!(error = %e, "could not record a key's last use");
                }
            });
        }
    }

    /// The principal a token stands for, and the requests per second its key
    /// may make.
    async fn verify(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<(Principal, u32), Failure> {
        let parsed = ParsedToken::parse(token).ok_or(Failure::Malformed)?;
        let stored = self
            .stored(parsed.id, client)
            .await?
            .ok_or(Failure::Unknown)?;
        if !parsed.matches(&stored.secret_hash) {
            return Err(Failure::WrongSecret);
        }
        let key = stored.key;
        if key.revoked_at.is_some() {
            return Err(Failure::Revoked);
        }
        if !key.is_active(chrono::Utc::now()) {
            return Err(Failure::Expired);
        }
        let role: Role = key.role.parse().map_err(|_| Failure::Unknown)?;
        self.touch(key.id);
        let rate = key
            .rate_per_second
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or_else(|| role.default_rate());
        let principal = Principal {
            key_id: key.id,
            role,
            channel: key.channel,
        };
        Ok((principal, rate))
    }

    /// `Err(wait)` when the key is over its rate.
    fn admit(&self, principal: &Principal, rate: u32) -> Result<(), Duration> {
        let limiter = {
            let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
            let entry = limiters
                .entry(principal.key_id)
                .or_insert_with(|| (0, Arc::new(limiter(rate))));
            if entry.0 != rate {
                *entry = (rate, Arc::new(limiter(rate)));
            }
            Arc::clone(&entry.1)
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

fn limiter(rate: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(rate))
}

/// What the authentication layer needs.
#[derive(Clone)]
pub struct AuthLayerState {
    /// The authenticator.
    pub authenticator: Authenticator,
    /// Paths anyone may call.
    pub public: Arc<Vec<&'static str>>,
}

/// The 401 every unauthenticated request gets, whatever the reason.
fn unauthenticated(token_sent: bool) -> Response {
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "a valid API key is required: Authorization: Bearer <key>",
    )
    .into_response();
    let challenge = if token_sent {
        r#"Bearer realm="stockroom", error="invalid_token""#
    } else {
        r#"Bearer realm="stockroom""#
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn count_failure(reason: &str) {
    metrics::counter!("stockroom_auth_failures_total", "reason" => reason.to_owned()).increment(1);
}

/// Middleware: authenticates every request to a non-public path, applies
/// the key's rate limit, and hands the [`Principal`] to what follows.
pub async fn authenticate(
    State(state): State<AuthLayerState>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.public.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers().get_all(header::AUTHORIZATION);
    let mut values = headers.iter();
    let (first, second) = (values.next(), values.next());
    let outcome = match (first, second) {
        (None, _) => Err(Failure::Missing),
        (Some(_), Some(_)) => Err(Failure::Malformed),
        (Some(value), None) => {
            let token = value
                .to_str()
                .ok()
                .filter(|v| v.len() <= MAX_TOKEN_LEN)
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match token {
                Some(token) if !token.is_empty() => state.authenticator.verify(token, client).await,
                _ => Err(Failure::Malformed),
            }
        }
    };
    let (principal, rate) = match outcome {
        Ok(verified) => verified,
        Err(failure @ (Failure::Unavailable | Failure::Busy)) => {
            count_failure(failure.as_str());
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "credentials cannot be checked right now; retry later",
            )
            .retry_after(1)
            .into_response();
        }
        Err(Failure::Throttled) => {
            count_failure(Failure::Throttled.as_str());
            return Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "too many unknown keys from this address; retry later",
            )
            .retry_after(1)
            .into_response();
        }
        Err(failure) => {
            count_failure(failure.as_str());
            return unauthenticated(failure != Failure::Missing);
        }
    };
    if let Err(wait) = state.authenticator.admit(&principal, rate) {
        count_failure("rate_limited");
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        return Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("this key may make {rate} requests per second"),
        )
        .retry_after(seconds)
        .into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// Middleware for one route: the caller's role must hold `permission`.
pub async fn authorize(permission: Permission, request: Request, next: Next) -> Response {
    let Some(principal) = request.extensions().get::<Principal>() else {
        // Authentication did not run for this route: refuse rather than guess.
        return unauthenticated(false);
    };
    if !principal.role.allows(permission) {
        count_failure("forbidden");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the {} role does not hold the {permission} permission",
                principal.role
            ),
        )
        .with("permission", permission.as_str())
        .into_response();
    }
    next.run(request).await
}
