//! Per-user allowances of the REST writes that each cost a flush of the
//! database (an fsync): reaction changes, room edits, file uploads and
//! settings (push subscriptions, notification levels). Messages have
//! the group commit, which shares one flush among many senders; these
//! answer only once their own change is on disk, so a client looping on
//! them would make the disk its bottleneck. The defaults are far above
//! what a person clicking does, so only scripts ever meet them.

use crate::cli::WriteLimitArgs;
use crate::config::ConfigError;
use crate::model::UserId;

use super::TokenBuckets;

/// Seconds in the minute the rates are counted over.
const MINUTE: f64 = 60.0;

/// The allowances as configured (`--reaction-rate`, `--reaction-burst`,
/// `--room-edit-rate`, `--upload-rate`, `--settings-rate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteRates {
    /// Reaction changes (`PUT` or `DELETE`) a minute per user, refilled
    /// continuously; `None` when the limit is off.
    pub reactions_per_minute: Option<u32>,
    /// Reaction changes a user may make at once before the rate applies.
    pub reaction_burst: u32,
    /// Room edits (`PATCH /api/rooms/{id}`) a minute per user, refilled
    /// continuously, a whole minute's worth allowed at once; `None` when
    /// the limit is off.
    pub room_edits_per_minute: Option<u32>,
    /// File uploads a minute per user, likewise; `None` when the limit is
    /// off. The byte quota bounds what is stored; this bounds how many
    /// records and fsyncs a user's script can cause.
    pub uploads_per_minute: Option<u32>,
    /// Changes of a user's settings (push subscriptions, notification
    /// levels) a minute, likewise; `None` when the limit is off.
    pub settings_per_minute: Option<u32>,
}

impl WriteRates {
    /// The allowances of `serve`'s options, where a rate of 0 is off; a
    /// burst of 0 with the rate on would refuse every reaction.
    pub fn of(args: &WriteLimitArgs) -> Result<Self, ConfigError> {
        if args.reaction_burst == 0 && args.reaction_rate > 0 {
            return Err(ConfigError(
                "--reaction-burst must be at least 1 (use --reaction-rate 0 to turn the limit off)"
                    .into(),
            ));
        }
        let on = |n: u32| (n > 0).then_some(n);
        Ok(WriteRates {
            reactions_per_minute: on(args.reaction_rate),
            reaction_burst: args.reaction_burst,
            room_edits_per_minute: on(args.room_edit_rate),
            uploads_per_minute: on(args.upload_rate),
            settings_per_minute: on(args.settings_rate),
        })
    }
}

/// The buckets of [`WriteRates`], one per user and kind of write, shared by
/// every request (one handle in the app). Taking a token is atomic, so
/// concurrent requests of one user never together exceed the allowance.
#[derive(Clone)]
pub struct WriteLimits {
    reactions: Option<TokenBuckets<UserId>>,
    room_edits: Option<TokenBuckets<UserId>>,
    uploads: Option<TokenBuckets<UserId>>,
    settings: Option<TokenBuckets<UserId>>,
}

impl WriteLimits {
    /// The buckets of each allowance that is on; a user's starts full at
    /// the user's first write.
    pub fn new(rates: WriteRates) -> Self {
        WriteLimits {
            reactions: rates
                .reactions_per_minute
                .map(|n| TokenBuckets::new(f64::from(n) / MINUTE, rates.reaction_burst)),
            room_edits: rates.room_edits_per_minute.map(a_minutes_worth),
            uploads: rates.uploads_per_minute.map(a_minutes_worth),
            settings: rates.settings_per_minute.map(a_minutes_worth),
        }
    }

    /// Takes one reaction change for `user`, or says in how many seconds
    /// one is allowed.
    pub fn reaction(&self, user: UserId) -> Result<(), u64> {
        take(self.reactions.as_ref(), user)
    }

    /// Takes one room edit for `user`, or says in how many seconds one is
    /// allowed.
    pub fn room_edit(&self, user: UserId) -> Result<(), u64> {
        take(self.room_edits.as_ref(), user)
    }

    /// Takes one file upload for `user`, or says in how many seconds one
    /// is allowed.
    pub fn upload(&self, user: UserId) -> Result<(), u64> {
        take(self.uploads.as_ref(), user)
    }

    /// Takes one settings change for `user`, or says in how many seconds
    /// one is allowed.
    pub fn settings(&self, user: UserId) -> Result<(), u64> {
        take(self.settings.as_ref(), user)
    }
}

/// `n` a minute, refilled continuously, with a whole minute's worth allowed
/// at once.
fn a_minutes_worth(n: u32) -> TokenBuckets<UserId> {
    TokenBuckets::new(f64::from(n) / MINUTE, n)
}

fn take(buckets: Option<&TokenBuckets<UserId>>, user: UserId) -> Result<(), u64> {
    buckets.map_or(Ok(()), |b| b.take(&user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u64) -> UserId {
        UserId(n)
    }

    fn rates(reaction_rate: u32, reaction_burst: u32, room_edit_rate: u32) -> WriteRates {
        WriteRates::of(&WriteLimitArgs {
            reaction_rate,
            reaction_burst,
            room_edit_rate,
            upload_rate: room_edit_rate,
            settings_rate: room_edit_rate,
        })
        .expect("valid rates")
    }

    #[test]
    fn each_kind_of_write_has_its_own_allowance_per_user() {
        let limits = WriteLimits::new(rates(1, 2, 1));
        assert!(limits.reaction(user(1)).is_ok());
        assert!(limits.reaction(user(1)).is_ok());
        let wait = limits.reaction(user(1)).expect_err("burst spent");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limits.reaction(user(2)).is_ok(), "another user");
        assert!(limits.room_edit(user(1)).is_ok(), "another kind");
        assert!(limits.room_edit(user(1)).is_err(), "a minute's worth");
        assert!(limits.upload(user(1)).is_ok(), "another kind");
        assert!(limits.upload(user(1)).is_err(), "a minute's worth");
        assert!(limits.settings(user(1)).is_ok(), "another kind");
        assert!(limits.settings(user(1)).is_err(), "a minute's worth");
    }

    #[test]
    fn zero_turns_a_limit_off_and_a_burst_needs_a_rate() {
        let limits = WriteLimits::new(rates(0, 0, 0));
        for _ in 0..1000 {
            assert!(limits.reaction(user(1)).is_ok());
            assert!(limits.room_edit(user(1)).is_ok());
            assert!(limits.upload(user(1)).is_ok());
            assert!(limits.settings(user(1)).is_ok());
        }
        let no_burst = WriteLimitArgs {
            reaction_rate: 60,
            reaction_burst: 0,
            room_edit_rate: 20,
            upload_rate: 60,
            settings_rate: 60,
        };
        assert!(WriteRates::of(&no_burst).is_err());
    }
}
