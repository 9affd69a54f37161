//! The lake on S3 (any S3 service: AWS, Garage, MinIO), through the AWS SDK.

use std::{fmt, time::Duration};

use aws_sdk_s3::{
    Client,
    config::{
        BehaviorVersion, Credentials, Region, RequestChecksumCalculation,
        ResponseChecksumValidation, retry::RetryConfig, timeout::TimeoutConfig,
    },
    error::DisplayErrorContext,
    primitives::ByteStream,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{LakeError, ObjectInfo};

/// `[lake.s3]`: the bucket that holds the lake in scale-out mode.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// The bucket; unset keeps the lake in a local directory.
    pub bucket: Option<String>,
    /// The S3 endpoint, such as `http://127.0.0.1:3900`; unset means AWS for `region`.
    pub endpoint: Option<String>,
    pub region: String,
    /// Prefix of every object key Vigil writes (ends with `/`, or empty).
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), which Garage and MinIO need.
    pub path_style: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: None,
            endpoint: None,
            region: "us-east-1".into(),
            prefix: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: false,
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// A lake in an S3 bucket.
#[derive(Clone)]
pub struct S3Lake {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
}

impl fmt::Debug for S3Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

fn failed<'a, E: std::error::Error + Send + Sync + 'static>(
    op: &'static str,
    key: &'a str,
) -> impl FnOnce(aws_sdk_s3::error::SdkError<E>) -> LakeError + 'a {
    move |e| LakeError::S3 {
        op,
        key: key.to_owned(),
        detail: DisplayErrorContext(&e).to_string(),
    }
}

impl S3Lake {
    /// A client for `config.bucket`; nothing connects until the first call.
    pub fn new(config: &S3Config) -> Result<S3Lake, LakeError> {
        let bucket = config.bucket.clone().ok_or_else(|| LakeError::S3 {
            op: "configure",
            key: String::new(),
            detail: "lake.s3.bucket is not set".into(),
        })?;
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(Credentials::new(
                &config.access_key_id,
                &config.secret_access_key,
                None,
                None,
                "vigil-config",
            ))
            .force_path_style(config.path_style)
            // Checksums only where S3 requires them: S3-compatible services differ in the
            // optional ones.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(S3Lake {
            client: Client::from_conf(builder.build()),
            bucket,
            prefix: config.prefix.clone(),
            endpoint: config
                .endpoint
                .clone()
                .unwrap_or_else(|| format!("aws:{}", config.region)),
        })
    }

    pub fn describe(&self) -> String {
        format!("s3://{}/{} at {}", self.bucket, self.prefix, self.endpoint)
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(super) async fn put(&self, key: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(failed("put", key))?;
        Ok(())
    }

    pub(super) async fn get(&self, key: &str) -> Result<Bytes, LakeError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map_err(failed("get", key))?;
        let body = object.body.collect().await.map_err(|e| LakeError::S3 {
            op: "get",
            key: key.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(body.into_bytes())
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, LakeError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.full(prefix))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(failed("list", prefix))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                out.push(ObjectInfo {
                    key: key.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                });
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), LakeError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map_err(failed("delete", key))?;
        Ok(())
    }
}
