//! One POST of one batch to one endpoint, signed.

use std::time::Duration;

use thiserror::Error;

use crate::signature;

/// Why an endpoint did not accept a batch (it is tried again).
#[derive(Debug, Error)]
pub enum DeliveryError {
    /// It answered, but not with a 2xx.
    #[error("the endpoint answered {0}")]
    Refused(u16),
    /// It did not answer in time.
    #[error("the endpoint did not answer within {0:?}")]
    TimedOut(Duration),
    /// It could not be reached.
    #[error("the endpoint cannot be reached")]
    Unreachable(#[source] reqwest::Error),
}

/// Sends batches; one per process (its connections are reused).
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    timeout: Duration,
}

impl Deliverer {
    /// A deliverer whose POSTs give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            client: reqwest::Client::new(),
            timeout,
        }
    }

    /// POSTs `body` to `url`, signed with `secret` at the current time.
    /// `first` and `last` are the batch's positions (headers that let a
    /// receiver log what it got without parsing the body).
    pub async fn post(
        &self,
        url: &str,
        secret: &str,
        body: String,
        first: i64,
        last: i64,
    ) -> Result<(), DeliveryError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let answer = self
            .client
            .post(url)
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .header(
                signature::HEADER,
                signature::sign(secret, now, body.as_bytes()),
            )
            .header("stockroom-positions", format!("{first}-{last}"))
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    DeliveryError::TimedOut(self.timeout)
                } else {
                    DeliveryError::Unreachable(e)
                }
            })?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Refused(status.as_u16()))
        }
    }
}
