//! The ledger (issue 21, a first part): double entry in integer piastres, as TigerBeetle keeps
//! it — every transfer moves an amount from one account's debits to another's credits, is
//! named by a client-chosen id (a retry with the same fields returns the first result; the same
//! id with other fields is refused), may be pending (reserving funds until posted, voided or
//! timed out), and may be linked with others into a group that succeeds or fails whole. No
//! floating point anywhere: amounts are `u64` piastres, EGP text is parsed exactly.
//!
//! Pure, like the rest of schema: [`Ledger`] is the state, [`Ledger::transfer`] checks a group
//! and applies it or changes nothing, and [`Ledger::check`] verifies the invariants.

use crate::Id;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Piastres in one Egyptian pound.
pub const PIASTRES_PER_EGP: u64 = 100;
/// The largest amount one transfer may move: a trillion pounds.
pub const AMOUNT_MAX: u64 = 1_000_000_000_000 * PIASTRES_PER_EGP;
/// The most transfers in one linked group.
pub const GROUP_MAX: usize = 256;

/// Parses an amount in EGP written with at most two decimals (`"12"`, `"12.5"`, `"12.50"`)
/// into piastres, exactly. Refuses signs, exponents, more decimals, zero and amounts above
/// [`AMOUNT_MAX`].
pub fn parse_egp(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) {
        return Err(format!("{text:?} is not an amount in EGP like \"12.50\""));
    }
    if fraction.len() > 2 {
        return Err(format!("{text:?} has more than two decimals (piastres are the smallest unit)"));
    }
    let too_large = || format!("{text:?} is more than {} EGP", AMOUNT_MAX / PIASTRES_PER_EGP);
    let whole: u64 = whole.parse().map_err(|_| too_large())?;
    let fraction: u64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<2}").parse().expect("two digits") };
    let piastres = whole.checked_mul(PIASTRES_PER_EGP).and_then(|p| p.checked_add(fraction)).ok_or_else(too_large)?;
    if piastres == 0 {
        return Err("an amount must be more than zero".into());
    }
    if piastres > AMOUNT_MAX {
        return Err(too_large());
    }
    Ok(piastres)
}

/// An amount of piastres as EGP with two decimals (`1250` → `"12.50"`).
pub fn format_egp(piastres: u64) -> String {
    format!("{}.{:02}", piastres / PIASTRES_PER_EGP, piastres % PIASTRES_PER_EGP)
}

/// Splits `amount` among `shares` (weights, any scale) by largest remainder: each gets the
/// floor of its exact share, and the piastres left go one each to the largest remainders
/// (ties to the smaller id) — so the parts add up to `amount` exactly. A zero total gives
/// everything to nobody: an empty split.
pub fn split(amount: u64, shares: &[(Id, u64)]) -> Vec<(Id, u64)> {
    let total: u128 = shares.iter().map(|&(_, w)| u128::from(w)).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut parts: Vec<(Id, u64, u128)> = shares
        .iter()
        .map(|&(id, w)| {
            let exact = u128::from(amount) * u128::from(w);
            (id, (exact / total) as u64, exact % total)
        })
        .collect();
    let given: u64 = parts.iter().map(|&(_, p, _)| p).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2).then(parts[a].0.cmp(&parts[b].0)));
    for &i in order.iter().take((amount - given) as usize) {
        parts[i].1 += 1;
    }
    parts.into_iter().map(|(id, p, _)| (id, p)).collect()
}

/// One account's balances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Posted debits.
    pub debits_posted: u64,
    /// Posted credits.
    pub credits_posted: u64,
    /// Debits reserved by pending transfers.
    pub debits_pending: u64,
    /// Credits promised by pending transfers.
    pub credits_pending: u64,
    /// Whether debits may exceed credits (a system account that issues money).
    pub may_overdraw: bool,
}

impl Account {
    /// The posted balance: credits less debits.
    pub fn balance(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// What the account may still spend: posted credits less posted and pending debits.
    pub fn available(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted) - i128::from(self.debits_pending)
    }
}

/// A transfer as asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The client's idempotency key.
    pub id: u128,
    /// The account debited.
    pub debit: Id,
    /// The account credited.
    pub credit: Id,
    /// Piastres.
    pub amount: u64,
    /// What it is for (a small code of the application's).
    pub code: u16,
    /// Whether it only reserves, until posted or voided.
    pub pending: bool,
    /// For a pending transfer: how long after it is made the log's clock voids it, in
    /// milliseconds (0: never). Relative, as TigerBeetle's, so a retry names the same transfer.
    pub timeout_ms: i64,
}

/// Where a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Moved.
    Posted,
    /// Reserved.
    Pending,
    /// A pending transfer released.
    Voided,
}

/// A transfer as the ledger keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// As asked.
    pub transfer: Transfer,
    /// Where it stands.
    pub state: State,
    /// What moved: the amount once posted (a pending transfer may be posted in part, the rest
    /// released), 0 while pending or once voided.
    pub posted: u64,
    /// When it was made, in milliseconds since the Unix epoch (the log's clock).
    pub at_ms: i64,
}

impl Stored {
    /// When a pending transfer times out (None: never).
    pub fn expires_ms(&self) -> Option<i64> {
        (self.transfer.pending && self.transfer.timeout_ms > 0)
            .then(|| self.at_ms.saturating_add(self.transfer.timeout_ms))
    }
}

/// Why a group of transfers was refused (nothing of it applied).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The same id was used with other fields.
    #[error("transfer {index}: id already used with other fields")]
    IdReused {
        /// Its place in the group.
        index: usize,
    },
    /// The debit would take an account below zero.
    #[error("transfer {index}: the debited account has {available} piastres available, not {amount}")]
    Insufficient {
        /// Its place in the group.
        index: usize,
        /// What the account has.
        available: i128,
        /// What was asked.
        amount: u64,
    },
    /// Debit and credit are one account, or the amount is zero or too large.
    #[error("transfer {index}: {reason}")]
    Invalid {
        /// Its place in the group.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The group is empty or too large.
    #[error("a group holds 1 to {GROUP_MAX} transfers")]
    GroupSize,
    /// A post or void names no pending transfer.
    #[error("no pending transfer {id}")]
    NotPending {
        /// The id.
        id: u128,
    },
    /// A post of more than the pending amount.
    #[error("transfer {id} reserved {pending} piastres; {asked} cannot be posted")]
    PostTooLarge {
        /// The id.
        id: u128,
        /// What it reserved.
        pending: u64,
        /// What was asked.
        asked: u64,
    },
}

/// What a check of transfers reads: accounts and known transfers. The [`Ledger`] is one; the
/// rules' view of the graph during a group commit (the ledger plus staged events) is another.
pub trait Accounts {
    /// An account's balances (the default for one never used).
    fn account(&self, id: Id) -> Account;
    /// A known transfer.
    fn stored(&self, id: u128) -> Option<Stored>;
}

/// Checks a linked group against `accounts` without changing anything: per transfer, whether
/// it is new (`false`: a retry of a known transfer with the same fields, which changes
/// nothing). Transfers apply in order, so an earlier transfer's credit counts toward a later
/// debit.
pub fn check_group(accounts: &dyn Accounts, group: &[Transfer]) -> Result<Vec<bool>, Refusal> {
    if group.is_empty() || group.len() > GROUP_MAX {
        return Err(Refusal::GroupSize);
    }
    // Changes by earlier transfers of the group: account → (posted credits in, debits out).
    let mut moved: Vec<(Id, u64, u64)> = Vec::new();
    let mut fresh = Vec::with_capacity(group.len());
    for (index, t) in group.iter().enumerate() {
        let earlier = group[..index].iter().find(|e| e.id == t.id);
        if let Some(known) = accounts.stored(t.id).map(|s| s.transfer).or_else(|| earlier.cloned()) {
            if known != *t {
                return Err(Refusal::IdReused { index });
            }
            fresh.push(false);
            continue;
        }
        if t.debit == t.credit {
            return Err(Refusal::Invalid { index, reason: "debit and credit are the same account" });
        }
        if t.amount == 0 || t.amount > AMOUNT_MAX {
            return Err(Refusal::Invalid { index, reason: "the amount is zero or too large" });
        }
        let debit = accounts.account(t.debit);
        let (credited, debited) = moved.iter().find(|m| m.0 == t.debit).map_or((0, 0), |&(_, c, d)| (c, d));
        let available = debit.available() + i128::from(credited) - i128::from(debited);
        if !debit.may_overdraw && available < i128::from(t.amount) {
            return Err(Refusal::Insufficient { index, available: available.max(0), amount: t.amount });
        }
        let mut note = |id: Id, credit: u64, debit: u64| match moved.iter_mut().find(|m| m.0 == id) {
            Some(m) => {
                m.1 += credit;
                m.2 += debit;
            }
            None => moved.push((id, credit, debit)),
        };
        note(t.debit, 0, t.amount);
        if !t.pending {
            note(t.credit, t.amount, 0);
        }
        fresh.push(true);
    }
    Ok(fresh)
}

/// Checks a settlement: `Ok(true)` when the pending transfer `id` may be posted for `post`
/// piastres (0 voids it; less than its amount posts that much and releases the rest),
/// `Ok(false)` for a retry of a settlement already made the same way.
pub fn check_settle(accounts: &dyn Accounts, id: u128, post: u64) -> Result<bool, Refusal> {
    let Some(stored) = accounts.stored(id) else { return Err(Refusal::NotPending { id }) };
    match stored.state {
        State::Pending if post > stored.transfer.amount => {
            Err(Refusal::PostTooLarge { id, pending: stored.transfer.amount, asked: post })
        }
        State::Pending => Ok(true),
        State::Posted if post > 0 && post == stored.posted => Ok(false),
        State::Voided if post == 0 => Ok(false),
        _ => Err(Refusal::NotPending { id }),
    }
}

/// The ledger's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Accounts by owner id (a mask, or a system account's id).
    pub accounts: BTreeMap<Id, Account>,
    /// Transfers by id.
    pub transfers: BTreeMap<u128, Stored>,
    /// Each account's transfers, debits and credits, in the order they were made.
    pub by_account: BTreeMap<Id, Vec<u128>>,
    /// Pending transfers with a timeout, by (timeout, id).
    pub timeouts: std::collections::BTreeSet<(i64, u128)>,
}

impl Accounts for Ledger {
    fn account(&self, id: Id) -> Account {
        self.accounts.get(&id).cloned().unwrap_or_default()
    }

    fn stored(&self, id: u128) -> Option<Stored> {
        self.transfers.get(&id).cloned()
    }
}

impl Ledger {
    /// Opens a system account that may overdraw (issuance, fees).
    pub fn open_system(&mut self, id: Id) {
        self.accounts.entry(id).or_default().may_overdraw = true;
    }

    /// Applies a linked group: all of it, or — on any refusal — none of it. A transfer whose id
    /// is already known with the same fields is a retry: it changes nothing and succeeds.
    /// Returns, per transfer, whether it was new.
    /// `at_ms` is the log's clock when the group is made.
    pub fn transfer(&mut self, group: &[Transfer], at_ms: i64) -> Result<Vec<bool>, Refusal> {
        let fresh = check_group(self, group)?;
        for (t, &new) in group.iter().zip(&fresh) {
            if new && !self.transfers.contains_key(&t.id) {
                self.apply_new(t, at_ms);
            }
        }
        Ok(fresh)
    }

    /// Records a new transfer that was checked.
    fn apply_new(&mut self, t: &Transfer, at_ms: i64) {
        let debit = self.accounts.entry(t.debit).or_default();
        if t.pending {
            debit.debits_pending += t.amount;
            self.accounts.entry(t.credit).or_default().credits_pending += t.amount;
            if t.timeout_ms > 0 {
                self.timeouts.insert((at_ms.saturating_add(t.timeout_ms), t.id));
            }
        } else {
            debit.debits_posted += t.amount;
            self.accounts.entry(t.credit).or_default().credits_posted += t.amount;
        }
        let state = if t.pending { State::Pending } else { State::Posted };
        let posted = if t.pending { 0 } else { t.amount };
        self.transfers.insert(t.id, Stored { transfer: t.clone(), state, posted, at_ms });
        self.by_account.entry(t.debit).or_default().push(t.id);
        self.by_account.entry(t.credit).or_default().push(t.id);
    }

    /// Settles a pending transfer: posts `post` piastres of it (0 voids it; less than its
    /// amount releases the rest). Settling one already settled the same way is a retry and
    /// changes nothing.
    pub fn settle(&mut self, id: u128, post: u64) -> Result<bool, Refusal> {
        if !check_settle(self, id, post)? {
            return Ok(false);
        }
        let stored = self.transfers.get_mut(&id).expect("checked");
        let t = stored.transfer.clone();
        stored.state = if post > 0 { State::Posted } else { State::Voided };
        stored.posted = post;
        if let Some(at) = stored.expires_ms() {
            self.timeouts.remove(&(at, id));
        }
        let debit = self.accounts.get_mut(&t.debit).expect("a transfer's accounts exist");
        debit.debits_pending -= t.amount;
        debit.debits_posted += post;
        let credit = self.accounts.get_mut(&t.credit).expect("a transfer's accounts exist");
        credit.credits_pending -= t.amount;
        credit.credits_posted += post;
        Ok(true)
    }

    /// The pending transfers whose timeout the clock at `now_ms` has passed, at most `limit`,
    /// earliest first: what the engine voids.
    pub fn expired(&self, now_ms: i64, limit: usize) -> Vec<u128> {
        self.timeouts.iter().take_while(|(at, _)| *at <= now_ms).take(limit).map(|&(_, id)| id).collect()
    }

    /// Checks the invariants: the sums of debits and of credits agree, posted and pending
    /// each; every account without overdraft has debits covered; every account's balances
    /// equal the sums of its transfers in each state.
    pub fn check(&self) -> Result<(), String> {
        let sum = |f: fn(&Account) -> u64| self.accounts.values().map(|a| u128::from(f(a))).sum::<u128>();
        if sum(|a| a.debits_posted) != sum(|a| a.credits_posted) {
            return Err("posted debits and credits differ".into());
        }
        if sum(|a| a.debits_pending) != sum(|a| a.credits_pending) {
            return Err("pending debits and credits differ".into());
        }
        let mut expected: BTreeMap<Id, Account> = BTreeMap::new();
        for s in self.transfers.values() {
            let t = &s.transfer;
            let (posted, pending) = match s.state {
                State::Posted => (s.posted, 0),
                State::Pending => (0, t.amount),
                State::Voided => (0, 0),
            };
            if s.posted > t.amount {
                return Err(format!("transfer {} posted more than its amount", t.id));
            }
            let debit = expected.entry(t.debit).or_default();
            debit.debits_posted += posted;
            debit.debits_pending += pending;
            let credit = expected.entry(t.credit).or_default();
            credit.credits_posted += posted;
            credit.credits_pending += pending;
        }
        for (id, account) in &self.accounts {
            let e = expected.remove(id).unwrap_or_default();
            let same = (e.debits_posted, e.credits_posted, e.debits_pending, e.credits_pending)
                == (account.debits_posted, account.credits_posted, account.debits_pending, account.credits_pending);
            if !same {
                return Err(format!("account {id}'s balances differ from its transfers"));
            }
            if !account.may_overdraw && account.available() < 0 {
                return Err(format!("account {id} is overdrawn"));
            }
        }
        if let Some(id) = expected.keys().next() {
            return Err(format!("transfers name account {id}, which the ledger does not hold"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u128, debit: u64, credit: u64, amount: u64, pending: bool) -> Transfer {
        Transfer { id, debit: Id(debit), credit: Id(credit), amount, code: 1, pending, timeout_ms: 0 }
    }

    #[test]
    fn egp_text_is_parsed_exactly() {
        assert_eq!(parse_egp("12.50"), Ok(1250));
        assert_eq!(parse_egp("12.5"), Ok(1250));
        assert_eq!(parse_egp(" 7 "), Ok(700));
        assert_eq!(parse_egp("0.05"), Ok(5));
        for bad in ["", "-1", "1e3", "12.505", "0", "0.00", "1,000", ".5", "5.", "+3", "١٢"] {
            assert!(parse_egp(bad).is_err(), "{bad:?}");
        }
        assert!(parse_egp("99999999999999999999999").is_err());
        assert_eq!(format_egp(1250), "12.50");
        assert_eq!(format_egp(5), "0.05");
        for p in [1, 99, 100, 123_456_789] {
            assert_eq!(parse_egp(&format_egp(p)), Ok(p));
        }
    }

    #[test]
    fn largest_remainder_accounts_for_every_piastre() {
        let shares = [(Id(3), 1), (Id(1), 1), (Id(2), 1)];
        let parts = split(100, &shares);
        assert_eq!(parts.iter().map(|&(_, p)| p).sum::<u64>(), 100);
        // 33.33 each: the one piastre left goes to the smallest id among equal remainders.
        assert_eq!(parts, vec![(Id(3), 33), (Id(1), 34), (Id(2), 33)]);
        let mut rng = crate::SplitMix64::new(7);
        for _ in 0..1_000 {
            let n = 1 + (rng.next_u64() % 8) as usize;
            let shares: Vec<(Id, u64)> = (0..n).map(|i| (Id(i as u64), rng.next_u64() % 10_000)).collect();
            let amount = rng.next_u64() % 1_000_000;
            let parts = split(amount, &shares);
            if shares.iter().any(|&(_, w)| w > 0) {
                assert_eq!(parts.iter().map(|&(_, p)| p).sum::<u64>(), amount);
            }
        }
        assert!(split(10, &[(Id(1), 0)]).is_empty());
    }

    #[test]
    fn transfers_are_idempotent_linked_and_never_overdraw() {
        let mut l = Ledger::default();
        l.open_system(Id(1));
        assert_eq!(l.transfer(&[t(10, 1, 2, 5_000, false)], 0), Ok(vec![true]));
        assert_eq!(l.transfer(&[t(10, 1, 2, 5_000, false)], 0), Ok(vec![false]), "a retry is the first result");
        assert_eq!(l.transfer(&[t(10, 1, 2, 4_000, false)], 0), Err(Refusal::IdReused { index: 0 }));
        // A group fails whole: the second would overdraw account 2.
        let before = l.clone();
        let r = l.transfer(&[t(11, 2, 3, 3_000, false), t(12, 2, 4, 3_000, false)], 0);
        assert!(matches!(r, Err(Refusal::Insufficient { index: 1, .. })), "{r:?}");
        assert_eq!(l, before, "nothing of a refused group is applied");
        // Two-phase: a reservation counts against what is available until settled.
        l.transfer(&[t(13, 2, 3, 4_000, true)], 0).unwrap();
        assert!(matches!(l.transfer(&[t(14, 2, 4, 2_000, false)], 0), Err(Refusal::Insufficient { .. })));
        assert_eq!(l.settle(13, 0), Ok(true));
        assert_eq!(l.settle(13, 0), Ok(false), "voiding twice is a retry");
        assert_eq!(l.settle(13, 4_000), Err(Refusal::NotPending { id: 13 }));
        l.transfer(&[t(14, 2, 4, 2_000, false)], 0).unwrap();
        let mut timed = t(15, 2, 3, 1_000, true);
        timed.timeout_ms = 50;
        l.transfer(&[timed], 0).unwrap();
        assert_eq!(l.expired(49, 10), Vec::<u128>::new());
        assert_eq!(l.expired(50, 10), vec![15]);
        assert_eq!(l.settle(15, 1_001), Err(Refusal::PostTooLarge { id: 15, pending: 1_000, asked: 1_001 }));
        // A partial post moves part and releases the rest.
        assert_eq!(l.settle(15, 600), Ok(true));
        assert_eq!(l.settle(15, 600), Ok(false), "the same post again is a retry");
        assert_eq!(l.expired(50, 10), Vec::<u128>::new(), "a settled transfer no longer times out");
        assert_eq!(l.accounts[&Id(2)].available(), 2_400);
        assert_eq!(l.accounts[&Id(3)].credits_posted, 600);
        // Within a group, an earlier credit pays a later debit.
        l.transfer(&[t(16, 1, 5, 100, false), t(17, 5, 6, 100, false)], 0).unwrap();
        assert_eq!(l.check(), Ok(()));
        // Tampering shows.
        l.accounts.get_mut(&Id(3)).unwrap().credits_posted += 1;
        assert!(l.check().is_err());
    }
}
