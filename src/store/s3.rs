//! Artifacts in an S3-compatible bucket. Input: files to store under keys (`RUN/demo.mp4`)
//! and the settings of `--store s3://BUCKET/PREFIX?…`. Output: objects `PREFIX/KEY`,
//! downloads as presigned GETs (or bytes read back with ranges), recordings copied back to
//! a worker. Invariant: an object exists under its key only once all of its bytes do (a
//! PUT, or a multipart upload completed after its last part; a failed multipart upload is
//! aborted so no parts linger), and each request that fails for a passing reason (no
//! connection, a timeout, a 5xx or throttling answer) is tried again on a fixed schedule
//! before the error, naming the endpoint and the key, is returned.

use super::settings::{Downloads, S3Settings};
use super::{ArtifactStore, ByteStream, Location};
use aws_sdk_s3::Client;
pub use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream as SdkStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use std::io::{Error, ErrorKind};
use std::path::Path;
use std::time::Duration;

/// Waits before each new try of a request that failed for a passing reason: 0.5 s
/// doubling to 8 s, 31.5 s in all, so a store that is away for ten to twenty seconds (a
/// restart) costs a delay, not a failed render.
const RETRY_WAITS: [Duration; 7] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(8),
    Duration::from_secs(8),
];

/// Why one try of a request failed.
struct Failure {
    /// Worth another try: the server was unreachable, slow or briefly unwell.
    passing: bool,
    not_found: bool,
    message: String,
}

impl Failure {
    fn local(error: impl std::fmt::Display) -> Failure {
        Failure { passing: false, not_found: false, message: error.to_string() }
    }

    fn from_sdk<E, R>(error: SdkError<E, R>) -> Failure
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let status = match &error {
            SdkError::ServiceError(service) => Some(service.raw().status_code()),
            SdkError::ResponseError(response) => Some(response.raw().status_code()),
            _ => None,
        };
        let passing = match (&error, status) {
            (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _) => true,
            (_, Some(code)) => code >= 500 || code == 429 || code == 408,
            (SdkError::ResponseError(_), None) => true,
            _ => false,
        };
        Failure { passing, not_found: status == Some(404), message: DisplayErrorContext(&error).to_string() }
    }
}

/// The HTTP status of a raw answer, for sorting failures.
trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

pub struct S3Store {
    client: Client,
    settings: S3Settings,
}

impl S3Store {
    /// A client for `settings`; credentials come from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), never from the URL, so they stay out
    /// of process listings and logs. Makes no request.
    pub fn from_environment(settings: S3Settings) -> Result<S3Store, String> {
        let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(access_key), Some(secret_key)) = (variable("AWS_ACCESS_KEY_ID"), variable("AWS_SECRET_ACCESS_KEY")) else {
            return Err("--store s3://…: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".into());
        };
        Ok(S3Store::new(settings, Credentials::new(access_key, secret_key, variable("AWS_SESSION_TOKEN"), None, "environment")))
    }

    /// A client for `settings` signing with `credentials`. Makes no request.
    pub fn new(settings: S3Settings, credentials: Credentials) -> S3Store {
        // rustls on ring (what reqwest here uses too) rather than the SDK's default, which
        // builds aws-lc from C.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.path_style)
            .timeout_config(timeouts)
            // One retry policy, ours (RETRY_WAITS), so the schedule and the error are known.
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            // Checksums only where the API requires them: many S3-compatible servers do
            // not read the SDK's default CRC trailers. Single uploads carry a SHA-256 instead.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        S3Store { client: Client::from_conf(config.build()), settings }
    }

    fn object_key(&self, key: &str) -> Result<String, Error> {
        super::check_key(key)?;
        Ok(match self.settings.prefix.as_str() {
            "" => key.to_string(),
            prefix => format!("{prefix}/{key}"),
        })
    }

    /// Runs `request` until it succeeds, fails for good, or RETRY_WAITS run out.
    async fn retrying<T, F, Fut>(&self, what: &str, key: &str, mut request: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut waits = RETRY_WAITS.iter();
        loop {
            let failure = match request().await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            match waits.next() {
                Some(wait) if failure.passing => {
                    tracing::warn!(what, key, error = %failure.message, "object store request failed; trying again in {wait:?}");
                    tokio::time::sleep(*wait).await;
                }
                _ => {
                    let kind = if failure.not_found { ErrorKind::NotFound } else { ErrorKind::Other };
                    let tries = if failure.passing { format!(" after {} tries", RETRY_WAITS.len() + 1) } else { String::new() };
                    return Err(Error::new(kind, format!("{what} {key} at {}{tries}: {}", self.settings.describe(), failure.message)));
                }
            }
        }
    }

    async fn put_whole(&self, object: &str, source: &Path, sha256: &str) -> Result<(), Error> {
        let checksum = base64::engine::general_purpose::STANDARD.encode(hex::decode(sha256).map_err(Error::other)?);
        self.retrying("uploading", object, || async {
            let body = SdkStream::from_path(source).await.map_err(Failure::local)?;
            self.client
                .put_object()
                .bucket(&self.settings.bucket)
                .key(object)
                .body(body)
                .content_type(content_type(object))
                .content_disposition(disposition(object))
                .metadata("sha256", sha256)
                // The server checks the bytes it got against this and refuses a torn upload.
                .checksum_sha256(&checksum)
                .send()
                .await
                .map_err(Failure::from_sdk)
        })
        .await
        .map(|_| ())
    }

    /// Uploads `source` in parts of `part_size`; answers only once the upload is complete.
    async fn put_in_parts(&self, object: &str, source: &Path, sha256: &str, size: u64) -> Result<(), Error> {
        let created = self
            .retrying("starting the upload of", object, || async {
                self.client
                    .create_multipart_upload()
                    .bucket(&self.settings.bucket)
                    .key(object)
                    .content_type(content_type(object))
                    .content_disposition(disposition(object))
                    .metadata("sha256", sha256)
                    .send()
                    .await
                    .map_err(Failure::from_sdk)
            })
            .await?;
        let upload_id = created.upload_id().ok_or_else(|| Error::other(format!("uploading {object}: the server named no upload id")))?.to_string();
        let uploaded = self.upload_parts(object, source, size, &upload_id).await;
        let completed = match uploaded {
            Ok(parts) => {
                let parts = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
                self.retrying("completing the upload of", object, || async {
                    self.client
                        .complete_multipart_upload()
                        .bucket(&self.settings.bucket)
                        .key(object)
                        .upload_id(&upload_id)
                        .multipart_upload(parts.clone())
                        .send()
                        .await
                        .map_err(Failure::from_sdk)
                })
                .await
                .map(|_| ())
            }
            Err(error) => Err(error),
        };
        if completed.is_err() {
            // Parts of an unfinished upload take space (and cost) until aborted.
            let _ = self.client.abort_multipart_upload().bucket(&self.settings.bucket).key(object).upload_id(&upload_id).send().await;
        }
        completed
    }

    async fn upload_parts(&self, object: &str, source: &Path, size: u64, upload_id: &str) -> Result<Vec<CompletedPart>, Error> {
        let part_size = self.settings.part_size;
        let mut parts = Vec::new();
        let mut offset = 0;
        while offset < size {
            let length = part_size.min(size - offset);
            let number = (parts.len() + 1) as i32;
            let answer = self
                .retrying(&format!("uploading part {number} of"), object, || async {
                    let body = SdkStream::read_from().path(source).offset(offset).length(Length::Exact(length)).build().await.map_err(Failure::local)?;
                    self.client
                        .upload_part()
                        .bucket(&self.settings.bucket)
                        .key(object)
                        .upload_id(upload_id)
                        .part_number(number)
                        .body(body)
                        .send()
                        .await
                        .map_err(Failure::from_sdk)
                })
                .await?;
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(answer.e_tag().map(str::to_string)).build());
            offset += length;
        }
        Ok(parts)
    }

    /// GET of `object`, whole or `bytes=start-end`.
    async fn get(&self, object: &str, range: Option<(u64, u64)>) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, Error> {
        self.retrying("reading", object, || async {
            self.client
                .get_object()
                .bucket(&self.settings.bucket)
                .key(object)
                .set_range(range.map(|(start, end)| format!("bytes={start}-{end}")))
                .send()
                .await
                .map_err(Failure::from_sdk)
        })
        .await
    }
}

#[async_trait::async_trait]
impl ArtifactStore for S3Store {
    async fn put(&self, key: &str, source: &Path, sha256: &str) -> std::io::Result<()> {
        let object = self.object_key(key)?;
        let size = tokio::fs::metadata(source).await?.len();
        if size > self.settings.part_size {
            self.put_in_parts(&object, source, sha256, size).await
        } else {
            self.put_whole(&object, source, sha256).await
        }
    }

    async fn locate(&self, key: &str) -> std::io::Result<Location> {
        let object = self.object_key(key)?;
        match self.settings.downloads {
            Downloads::Stream => Ok(Location::Stream),
            Downloads::Redirect => {
                let presigning = PresigningConfig::expires_in(self.settings.presign_ttl).map_err(Error::other)?;
                // Signing is local: no request is made until the client follows the link.
                let request = self.client.get_object().bucket(&self.settings.bucket).key(&object).presigned(presigning).await.map_err(|e| Error::other(DisplayErrorContext(&e).to_string()))?;
                Ok(Location::Redirect(request.uri().to_string()))
            }
        }
    }

    async fn read(&self, key: &str, start: u64, length: u64) -> std::io::Result<ByteStream> {
        let object = self.object_key(key)?;
        if length == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let answer = self.get(&object, Some((start, start + length - 1))).await?;
        Ok(Box::pin(futures::stream::unfold(answer.body, |mut body| async move {
            body.try_next().await.map_err(|e| Error::other(e.to_string())).transpose().map(|chunk| (chunk, body))
        })))
    }

    async fn fetch(&self, key: &str, target: &Path) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let object = self.object_key(key)?;
        let answer = self.get(&object, None).await?;
        let mut body = answer.body;
        let mut file = tokio::fs::File::create(target).await?;
        while let Some(chunk) = body.try_next().await.map_err(|e| Error::other(format!("reading {object} at {}: {e}", self.settings.describe())))? {
            file.write_all(&chunk).await?;
        }
        file.flush().await
    }
}

/// The Content-Type an object is served with, from its name.
fn content_type(object: &str) -> &'static str {
    match object.rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("gif") => "image/gif",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("json") => "application/json",
        Some("tar") => "application/x-tar",
        _ => "application/octet-stream",
    }
}

/// Served as a download named like the artifact (`demo.mp4`), as the API's own answers are.
fn disposition(object: &str) -> String {
    let name = object.rsplit('/').next().unwrap_or(object);
    format!("attachment; filename=\"{name}\"")
}
