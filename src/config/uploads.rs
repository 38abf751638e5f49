//! The bounds of uploaded files, resolved from `--max-upload-mb`,
//! `--upload-quota-mb` and `--unattached-file-hours`.

use std::time::Duration;

use super::ConfigError;
use crate::cli::UploadLimitArgs;

const MIB: u64 = 1024 * 1024;

/// How large one file may be and how much one user may store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file accepted, in bytes.
    pub max_file: u64,
    /// Bytes of files one user may have stored; `None` when there is no
    /// quota.
    pub quota: Option<u64>,
    /// How long a file may stay unattached to any message before the
    /// sweep removes it.
    pub unattached_for: Duration,
}

impl UploadLimits {
    /// The limits the flags ask for; a file limit of 0 is refused (it
    /// would turn uploads off by accident: say so instead).
    pub fn of(args: &UploadLimitArgs) -> Result<UploadLimits, ConfigError> {
        if args.max_upload_mb == 0 {
            return Err(ConfigError("--max-upload-mb must be at least 1".into()));
        }
        let mib = |n: u64, flag: &str| {
            n.checked_mul(MIB)
                .ok_or_else(|| ConfigError(format!("{flag} {n} is too large")))
        };
        Ok(UploadLimits {
            max_file: mib(args.max_upload_mb, "--max-upload-mb")?,
            quota: match args.upload_quota_mb {
                0 => None,
                n => Some(mib(n, "--upload-quota-mb")?),
            },
            unattached_for: Duration::from_secs(args.unattached_file_hours.saturating_mul(60 * 60)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_in_mib_and_a_zero_quota_is_none() {
        let args = crate::cli::serve_args(&[], &[]).expect("parse");
        let l = UploadLimits::of(&args.upload_limits).expect("defaults");
        assert_eq!(l.max_file, 25 * MIB);
        assert_eq!(l.quota, Some(1024 * MIB));
        let args = crate::cli::serve_args(
            &["--max-upload-mb", "200"],
            &[("CHATROOM_UPLOAD_QUOTA_MB", "0")],
        )
        .expect("parse");
        let l = UploadLimits::of(&args.upload_limits).expect("resolve");
        assert_eq!((l.max_file, l.quota), (200 * MIB, None));
        assert_eq!(l.unattached_for, Duration::from_secs(24 * 60 * 60));
        let zero = UploadLimitArgs {
            max_upload_mb: 0,
            upload_quota_mb: 1,
            unattached_file_hours: 0,
        };
        assert!(UploadLimits::of(&zero).is_err());
    }
}
