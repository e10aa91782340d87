//! HTTP calls to the ekycpro task endpoints.

use std::time::Duration;

use domain::ProviderError;
use reqwest::header::HeaderValue;
use url::Url;

use super::wire::Task;
use crate::http::{MAX_JSON_BYTES, Op, endpoint, read_capped};

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub http: reqwest::Client,
    pub base: Url,
    pub user_id: String,
    /// Marked sensitive so it never shows in `Debug` or logs.
    pub api_key: HeaderValue,
    pub timeout: Duration,
}

impl Client {
    /// Uploads the numbers file; one E.164 number per line.
    pub async fn create_task(&self, op: &Op, file: Vec<u8>) -> Result<Task, ProviderError> {
        let url = endpoint(op, &self.base, &["wa", "api", "detail", "tasks"])?;
        let part = reqwest::multipart::Part::bytes(file)
            .file_name("input.txt")
            .mime_str("text/plain")
            .map_err(|e| op.transport(e))?;
        let form = reqwest::multipart::Form::new()
            .text("user_id", self.user_id.clone())
            .part("file", part);
        let resp = op
            .send(
                self.http
                    .post(url)
                    .header("X-API-Key", self.api_key.clone())
                    .timeout(self.timeout)
                    .multipart(form),
            )
            .await?;
        self.read_task(op, resp).await
    }

    pub async fn get_task(&self, op: &Op, task_id: &str) -> Result<Task, ProviderError> {
        let url = endpoint(op, &self.base, &["wa", "api", "detail", "tasks", task_id])?;
        let resp = op
            .send(
                self.http
                    .get(url)
                    .query(&[("user_id", self.user_id.as_str())])
                    .header("X-API-Key", self.api_key.clone())
                    .timeout(self.timeout),
            )
            .await?;
        self.read_task(op, resp).await
    }

    async fn read_task(&self, op: &Op, resp: reqwest::Response) -> Result<Task, ProviderError> {
        let status = resp.status();
        if !status.is_success() {
            return Err(op.status(status, resp.headers()));
        }
        let body = read_capped(op, resp, MAX_JSON_BYTES).await?;
        op.json(&body)
    }
}
