//! AWS list prices (US East, N. Virginia) that squall's cost estimates (`job.cost()`) and its
//! placement of intermediate objects use. Sources: the pricing pages of AWS Lambda (x86 and
//! Arm, first pricing tier), Amazon S3 (S3 Standard, and S3 Express One Zone as the S3 FAQs
//! price it: requests, and a fee per GB uploaded and retrieved) and Amazon ElastiCache.

/// Every price by name, in USD: Lambda's GB-second (x86_64 and arm64) and request; S3
/// Standard's PUT (and COPY, POST, LIST), GET and LIST requests (DELETE is free) and its
/// storage per GB-month; S3 Express One Zone's PUT and GET requests, its per-GB upload and
/// retrieval fees and its storage per GB-month (as cut in April 2025); ElastiCache
/// Serverless for Valkey's ECPU (one per kilobyte a request moves, at least one per request)
/// and GB-hour of data held.
pub const PRICES: [(&str, f64); 14] = [
    ("lambda_gb_second", 0.000_016_666_7),
    ("lambda_gb_second_arm64", 0.000_013_333_4),
    ("lambda_request", 0.20 / 1e6),
    ("s3_put", 0.005 / 1000.0),
    ("s3_get", 0.0004 / 1000.0),
    ("s3_list", 0.005 / 1000.0),
    ("s3_gb_month", 0.023),
    ("s3_express_put", 0.001_13 / 1000.0),
    ("s3_express_get", 0.000_03 / 1000.0),
    ("s3_express_upload_gb", 0.0032),
    ("s3_express_retrieval_gb", 0.0006),
    ("s3_express_gb_month", 0.11),
    ("fast_ecpu", 0.0023 / 1e6),
    ("fast_gb_hour", 0.084),
];

/// The price named `name` (0 for a name not in [`PRICES`]).
pub fn price(name: &str) -> f64 {
    PRICES.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, p)| *p)
}

/// Bytes per part of a large S3 upload or read, each billed as one request.
pub const S3_PART_SIZE: usize = 8 << 20;

/// An object larger than this is uploaded in parts.
pub const S3_MULTIPART_THRESHOLD: usize = 16 << 20;

/// Parts an upload is cut into at most: each part is a request (priced as a PUT), so a big
/// object goes in fewer, bigger parts (1 GB: 16 of 64 MB, not 128 of 8 MB).
pub const S3_UPLOAD_PARTS: usize = 16;

/// Requests S3 bills for reading `bytes`: one per [`S3_PART_SIZE`] part, at least one.
pub fn s3_requests(bytes: u64) -> u64 {
    bytes.div_ceil(S3_PART_SIZE as u64).max(1)
}

/// Bytes per part of an upload of `bytes`: [`S3_PART_SIZE`], or more (whole megabytes) to
/// keep to [`S3_UPLOAD_PARTS`] parts.
pub fn s3_upload_part_size(bytes: u64) -> usize {
    let mb = 1 << 20;
    let even = bytes.div_ceil(S3_UPLOAD_PARTS as u64).div_ceil(mb) * mb;
    (even as usize).max(S3_PART_SIZE)
}

/// Requests S3 bills for writing `bytes` as one object: one PUT, or a multipart upload's
/// parts and its create and complete requests.
pub fn s3_put_requests(bytes: u64) -> u64 {
    match bytes as usize > S3_MULTIPART_THRESHOLD {
        true => bytes.div_ceil(s3_upload_part_size(bytes) as u64) + 2,
        false => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_uploads_go_in_at_most_sixteen_parts() {
        assert_eq!(s3_put_requests(1 << 20), 1);
        assert_eq!(s3_put_requests(16 << 20), 1);
        assert_eq!(s3_put_requests(17 << 20), 3 + 2, "three parts of 8 MB");
        assert_eq!(s3_upload_part_size(1 << 30), 64 << 20);
        assert_eq!(s3_put_requests(1 << 30), 16 + 2);
        assert_eq!(s3_put_requests((1 << 30) + 1), 16 + 2, "parts round up to whole megabytes");
        assert_eq!(s3_requests(1 << 30), 128, "reads stay in 8 MB ranges");
    }
}
