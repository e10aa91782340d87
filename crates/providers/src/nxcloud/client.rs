//! The signed HTTP call to `/api/wa/getPhone`.

use std::time::Duration;

use domain::{ProviderError, ProviderErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::signing::sign;
use super::wire::{Answer, GetPhoneRequest};
use crate::http::{MAX_JSON_BYTES, Op, endpoint, excerpt, read_capped};

const BIZ_TYPE: &str = "2";
const ACTION: &str = "getPhone";

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub http: reqwest::Client,
    pub base: Url,
    pub access_key: SecretString,
    pub access_secret: SecretString,
    pub appkey: String,
    pub timeout: Duration,
}

impl Client {
    /// Returns the answer's `data` (code 0 only).
    pub async fn get_phone(&self, op: &Op, phones: Option<String>) -> Result<Value, ProviderError> {
        let url = endpoint(op, &self.base, &["api", "wa", "getPhone"])?;
        let body = serde_json::to_vec(&GetPhoneRequest {
            appkey: &self.appkey,
            business_phones: phones,
            messaging_product: "whatsapp",
        })
        .map_err(|e| {
            op.err(
                ProviderErrorKind::Config,
                format!("cannot encode request: {e}"),
            )
        })?;
        let ts = chrono::Utc::now().timestamp_millis().to_string();
        let access_key = self.access_key.expose_secret();
        let signature = sign(
            &[
                ("accessKey", access_key),
                ("ts", &ts),
                ("bizType", BIZ_TYPE),
                ("action", ACTION),
            ],
            &body,
            self.access_secret.expose_secret(),
        );
        let mut key_header = reqwest::header::HeaderValue::from_str(access_key).map_err(|_| {
            op.err(
                ProviderErrorKind::Config,
                "access_key is not a valid header value",
            )
        })?;
        key_header.set_sensitive(true);

        let resp = op
            .send(
                self.http
                    .post(url)
                    .header("accessKey", key_header)
                    .header("ts", &ts)
                    .header("bizType", BIZ_TYPE)
                    .header("action", ACTION)
                    .header("sign", signature)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .timeout(self.timeout)
                    // The exact bytes that were signed.
                    .body(body),
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(op.status(status, resp.headers()));
        }
        let bytes = read_capped(op, resp, MAX_JSON_BYTES).await?;
        let answer: Answer = op.json(&bytes)?;
        let code = match &answer.code {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let message = excerpt(answer.message.as_deref().unwrap_or("no message"));
        match code {
            Some(0) => Ok(answer.data),
            Some(c) => Err(op.err_code(code_kind(c), c.to_string(), message)),
            None => Err(op.err(ProviderErrorKind::MalformedAnswer, "answer has no code")),
        }
    }
}

fn code_kind(code: i64) -> ProviderErrorKind {
    match code {
        // "1000~100X": the whole 1000 block is authentication.
        1000..=1099 => ProviderErrorKind::Auth,
        9000 | 9002 => ProviderErrorKind::BadRequest,
        9006 => ProviderErrorKind::NumberNotBound,
        9001 | -1 => ProviderErrorKind::Unavailable,
        _ => ProviderErrorKind::Unavailable,
    }
}
