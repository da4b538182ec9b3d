//! Cross-file deduplication and running totals.
//!
//! Every record belongs to a *group* (Claude: its `message.id`; Codex: its event
//! fingerprint). A group's contribution to the totals is a pure function of the set of
//! its candidates, never of the order they arrived in, so adding records file by file
//! in any order, or line by line across incremental scans, gives the same totals as
//! one full scan. When a group changes, its old contribution is subtracted from the
//! buckets and the new one added; all sums are integers, so nothing drifts.
//!
//! Claude rule (ccusage's, made order-independent): within one `message.id`,
//! non-sidechain rows with the same `requestId` (or all rows without one) are copies of
//! one response and the one with the largest token total wins; sidechain rows replaying
//! that message are dropped when a non-sidechain row exists, otherwise the largest one
//! counts once. Codex rule: identical events count once.

use std::cmp::Ordering;

use rustc_hash::FxHashMap;

use crate::record::{Entry, LONG_CONTEXT_THRESHOLD, LogSource, Record, RecordKey, Tokens};
use crate::strings::Strings;
use crate::zone::DayZone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BucketKey {
    pub(crate) day: i32,
    pub(crate) provider: LogSource,
    pub(crate) model: u32,
    pub(crate) session: u32,
}

/// Token sums of one (day, provider, model, session), split by pricing tier.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bucket {
    pub(crate) standard: Tokens,
    pub(crate) long_context: Tokens,
    pub(crate) requests: u64,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    file: u32,
    request: Option<u128>,
    sidechain: bool,
    entry: Entry,
}

/// The candidates of one group; almost every group has one, kept inline.
#[derive(Debug)]
enum Group {
    One(Candidate),
    Many(Vec<Candidate>),
}

#[derive(Debug)]
pub(crate) struct Ledger {
    zone: DayZone,
    groups: FxHashMap<u128, Group>,
    buckets: FxHashMap<BucketKey, Bucket>,
}

impl Ledger {
    pub(crate) fn new(zone: DayZone) -> Self {
        Ledger {
            zone,
            groups: FxHashMap::default(),
            buckets: FxHashMap::default(),
        }
    }

    pub(crate) fn buckets(&self) -> impl Iterator<Item = (&BucketKey, &Bucket)> {
        self.buckets.iter()
    }

    pub(crate) fn insert(
        &mut self,
        provider: LogSource,
        file: u32,
        record: &Record,
        strings: &Strings,
    ) {
        match group_of(file, record) {
            None => self.add(provider, &record.entry, 1),
            Some((key, candidate)) => self.change_group(provider, key, strings, |candidates| {
                candidates.push(candidate);
            }),
        }
    }

    pub(crate) fn remove(
        &mut self,
        provider: LogSource,
        file: u32,
        record: &Record,
        strings: &Strings,
    ) {
        match group_of(file, record) {
            None => self.add(provider, &record.entry, -1),
            Some((key, candidate)) => self.change_group(provider, key, strings, |candidates| {
                if let Some(position) = candidates.iter().position(|existing| {
                    existing.file == candidate.file
                        && existing.request == candidate.request
                        && existing.sidechain == candidate.sidechain
                        && existing.entry == candidate.entry
                }) {
                    candidates.swap_remove(position);
                }
            }),
        }
    }

    fn change_group(
        &mut self,
        provider: LogSource,
        key: u128,
        strings: &Strings,
        change: impl FnOnce(&mut Vec<Candidate>),
    ) {
        let mut candidates = match self.groups.remove(&key) {
            None => Vec::new(),
            Some(Group::One(candidate)) => vec![candidate],
            Some(Group::Many(candidates)) => candidates,
        };
        let before = winners(provider, &candidates, strings);
        change(&mut candidates);
        let after = winners(provider, &candidates, strings);
        match candidates.len() {
            0 => {}
            1 => {
                self.groups.insert(key, Group::One(candidates[0]));
            }
            _ => {
                self.groups.insert(key, Group::Many(candidates));
            }
        }
        if before == after {
            return;
        }
        for entry in &before {
            self.add(provider, entry, -1);
        }
        for entry in &after {
            self.add(provider, entry, 1);
        }
    }

    fn add(&mut self, provider: LogSource, entry: &Entry, sign: i8) {
        let key = BucketKey {
            day: self.zone.day_of(entry.timestamp_ms),
            provider,
            model: entry.model,
            session: entry.session,
        };
        let bucket = self.buckets.entry(key).or_default();
        let tier = if entry.tokens.prompt() > LONG_CONTEXT_THRESHOLD {
            &mut bucket.long_context
        } else {
            &mut bucket.standard
        };
        if sign > 0 {
            tier.add(&entry.tokens);
            bucket.requests += 1;
        } else {
            tier.sub(&entry.tokens);
            bucket.requests -= 1;
            if bucket.requests == 0 {
                self.buckets.remove(&key);
            }
        }
    }
}

fn group_of(file: u32, record: &Record) -> Option<(u128, Candidate)> {
    let (key, request, sidechain) = match record.key {
        RecordKey::Unique => return None,
        RecordKey::Claude {
            message,
            request,
            sidechain,
        } => (message, request, sidechain),
        RecordKey::Codex(fingerprint) => (fingerprint, None, false),
    };
    Some((
        key,
        Candidate {
            file,
            request,
            sidechain,
            entry: record.entry,
        },
    ))
}

/// The entries a group contributes. Small: usually one.
fn winners(provider: LogSource, candidates: &[Candidate], strings: &Strings) -> Vec<Entry> {
    match provider {
        LogSource::Codex => best(candidates.iter(), strings).into_iter().collect(),
        LogSource::Claude => {
            let mut main: Vec<&Candidate> = candidates.iter().filter(|c| !c.sidechain).collect();
            if main.is_empty() {
                return best(candidates.iter(), strings).into_iter().collect();
            }
            main.sort_by_key(|candidate| candidate.request);
            main.chunk_by(|a, b| a.request == b.request)
                .filter_map(|same_request| best(same_request.iter().copied(), strings))
                .collect()
        }
    }
}

fn best<'a>(candidates: impl Iterator<Item = &'a Candidate>, strings: &Strings) -> Option<Entry> {
    candidates
        .map(|candidate| candidate.entry)
        .reduce(|kept, next| {
            if compare(&next, &kept, strings) == Ordering::Greater {
                next
            } else {
                kept
            }
        })
}

/// Total order on copies of one response: the larger token total wins (streaming
/// snapshots grow), then the earlier timestamp, then names, so the winner never
/// depends on reading order.
pub(crate) fn compare(a: &Entry, b: &Entry, strings: &Strings) -> Ordering {
    a.tokens
        .total()
        .cmp(&b.tokens.total())
        .then_with(|| b.timestamp_ms.cmp(&a.timestamp_ms))
        .then_with(|| strings.get(b.model).cmp(strings.get(a.model)))
        .then_with(|| strings.get(b.session).cmp(strings.get(a.session)))
        .then_with(|| a.tokens.cmp(&b.tokens))
}
