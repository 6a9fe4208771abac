//! The economy (issue 21): listings and trades whose price flows up the remix chain as
//! royalties, and micro-contracts whose milestones wait in escrow — all on the ledger's double
//! entry ([`crate::ledger`]), in integer piastres.
//!
//! Royalties follow Story Protocol's two policies, without tokens: a work's author declares a
//! share when publishing, applying to every work below it in the remix chain ([`Scope::Chain`],
//! Story's LAP) or to its direct remixes only ([`Scope::Children`], LRP). A sale of a work pays
//! the platform's fee, then each ancestor's share (split among its co-authors by their shares),
//! then the rest to the work's authors; every division is by largest remainder, so the legs
//! add up to the price to the piastre.
//!
//! A contract's milestones are funded as pending transfers when the counterparty accepts: a
//! milestone approved is posted to the creator; one undelivered when its grace period ends is
//! voided back to the client, one delivered and unanswered is posted; a dispute goes to a jury
//! drawn by reputation ([`crate::jury`]) whose ruling posts, voids or splits it.

use crate::ledger::{self, Ledger, Stored, Transfer};
use crate::{Id, Props, Value, mix64};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The operator's issuance account: it may overdraw, and its debits are the money supply.
pub const ISSUANCE: Id = Id(1);
/// The platform's fee account.
pub const FEES: Id = Id(2);

/// Transfer codes: what a transfer is for.
pub mod code {
    /// A mask paid another.
    pub const TRANSFER: u16 = 1;
    /// The operator issued money.
    pub const ISSUE: u16 = 2;
    /// A sale's proceeds to the work's authors (or a commission's seller).
    pub const SALE: u16 = 10;
    /// A sale's platform fee.
    pub const FEE: u16 = 11;
    /// A royalty up the remix chain.
    pub const ROYALTY: u16 = 12;
    /// A contract's milestone in escrow.
    pub const ESCROW: u16 = 20;
}

/// Basis points in one whole.
pub const BP: u64 = 10_000;
/// The largest royalty share one work may declare.
pub const ROYALTY_SHARE_MAX_BP: u16 = 5_000;
/// The most of a sale all royalties together take; larger declared sums are scaled down.
pub const ROYALTIES_MAX_BP: u64 = 5_000;
/// The platform's fee when the server is not told another (2.5%).
pub const FEE_BP_DEFAULT: u16 = 250;
/// The largest platform fee.
pub const FEE_MAX_BP: u16 = 2_000;
/// The most ancestors a sale pays royalties to (the nearest first).
pub const ANCESTORS_MAX: usize = 32;
/// The most milestones of one contract.
pub const MILESTONES_MAX: usize = 32;
/// The default grace period after a milestone's due time.
pub const GRACE_MS_DEFAULT: i64 = 3 * 24 * 3_600_000;
/// The shortest and longest grace period.
pub const GRACE_MS_RANGE: std::ops::RangeInclusive<i64> = 0..=90 * 24 * 3_600_000;
/// The most settlements one tick of the clock makes.
pub const TICK_MAX: usize = 1_000;

/// Parses a share written as a decimal fraction of one (`"0.10"`, at most four decimals) into
/// basis points; refuses zero and shares above [`ROYALTY_SHARE_MAX_BP`].
pub fn parse_share(text: &str) -> Result<u16, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) || fraction.len() > 4 {
        return Err(format!("{text:?} is not a share like \"0.10\" (at most four decimals)"));
    }
    let whole: u64 = whole.parse().map_err(|_| format!("{text:?} is too large"))?;
    let fraction: u64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<4}").parse().expect("four digits") };
    let bp = whole.saturating_mul(BP).saturating_add(fraction);
    if bp == 0 || bp > u64::from(ROYALTY_SHARE_MAX_BP) {
        return Err(format!("a royalty share is more than 0 and at most 0.{ROYALTY_SHARE_MAX_BP}, not {text}"));
    }
    Ok(bp as u16)
}

/// Basis points as a decimal fraction of one (`1000` → `"0.1000"`).
pub fn format_share(bp: u16) -> String {
    format!("{}.{:04}", u64::from(bp) / BP, u64::from(bp) % BP)
}

/// To which remixes a royalty applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Every work below it in the remix chain (Story's LAP).
    Chain,
    /// Its direct remixes only (Story's LRP, one level).
    Children,
}

/// A work's declared royalty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Royalty {
    /// The share of a remix's sale, in basis points.
    pub share_bp: u16,
    /// Which remixes pay it.
    pub scope: Scope,
}

impl Royalty {
    /// The work properties that hold it.
    pub fn props(self) -> Props {
        let scope = match self.scope {
            Scope::Chain => "chain",
            Scope::Children => "children",
        };
        [
            ("royalty_bp".to_owned(), Value::Int(i64::from(self.share_bp))),
            ("royalty_scope".to_owned(), Value::Str(scope.into())),
        ]
        .into_iter()
        .collect()
    }

    /// The royalty a work's properties declare, if any.
    pub fn of(props: &Props) -> Option<Royalty> {
        let Some(Value::Int(bp)) = props.get("royalty_bp") else { return None };
        let scope = match props.get("royalty_scope").and_then(Value::as_str) {
            Some("children") => Scope::Children,
            _ => Scope::Chain,
        };
        Some(Royalty { share_bp: u16::try_from(*bp).ok()?.min(ROYALTY_SHARE_MAX_BP), scope })
    }
}

/// What a listing offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListingKind {
    /// The work itself.
    Sale,
    /// The seller's work to order.
    Commission,
    /// A license to use or remix the work.
    License,
}

/// A listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The selling mask (an author of the work).
    pub seller: Id,
    /// The work.
    pub work: Id,
    /// What it offers.
    pub kind: ListingKind,
    /// The price in piastres.
    pub price: u64,
    /// The terms, as written.
    pub terms: String,
    /// Whether it still sells.
    pub open: bool,
    /// Trades made on it.
    pub trades: Vec<u128>,
}

/// Why a leg of a trade is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The sold work's author (its share of what is left after fee and royalties).
    Author,
    /// A commission's seller.
    Seller,
    /// The platform's fee.
    Fee,
    /// An author of an original up the remix chain.
    Royalty,
}

/// One leg of a trade: who gets what, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    /// The account paid.
    pub to: Id,
    /// Piastres.
    pub amount: u64,
    /// Why.
    pub role: Role,
    /// For an author or a royalty: the work whose authorship earns it.
    pub work: Option<Id>,
    /// For a royalty: the share applied (after scaling to [`ROYALTIES_MAX_BP`]) in basis
    /// points of the price, before the split among the work's co-authors.
    pub share_bp: u16,
    /// For a royalty: how many remix steps up the chain the work is.
    pub depth: u8,
}

/// A completed purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The buyer's idempotency key, as a transfer id.
    pub id: u128,
    /// The listing.
    pub listing: Id,
    /// The buyer.
    pub buyer: Id,
    /// The seller.
    pub seller: Id,
    /// The price paid.
    pub price: u64,
    /// Where it went; the amounts add up to the price.
    pub legs: Vec<Leg>,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// What the royalty split needs to know of a work.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkFacts {
    /// Its authors with their shares in basis points.
    pub authors: Vec<(Id, u64)>,
    /// Its declared royalty.
    pub royalty: Option<Royalty>,
    /// The works it remixes.
    pub originals: Vec<Id>,
}

/// The transfer id of a trade's or a contract's `index`th leg: a mix of the key and the index.
pub fn leg_id(key: u128, index: u64) -> u128 {
    let (hi, lo) = ((key >> 64) as u64, key as u64);
    let a = mix64(hi ^ mix64(index.wrapping_add(0x5eed)));
    let b = mix64(lo ^ a ^ index);
    (u128::from(a) << 64) | u128::from(b)
}

/// Splits a sale of `work` at `price` into legs: the fee (`fee_bp`), royalties up the remix
/// chain, and the rest to the work's authors by share (or, for a commission, to `seller`).
/// Ancestors are found breadth first, nearest first, each counted once at its nearest depth;
/// a [`Scope::Children`] royalty applies at depth 1 only. The legs add up to `price` exactly.
pub fn split_sale(
    price: u64,
    fee_bp: u16,
    work: Id,
    kind: ListingKind,
    seller: Id,
    facts: &dyn Fn(Id) -> WorkFacts,
) -> Vec<Leg> {
    let fee_bp = u64::from(fee_bp.min(FEE_MAX_BP));
    let sold = facts(work);
    // Ancestors by depth, breadth first.
    let mut seen: BTreeSet<Id> = [work].into_iter().collect();
    let mut ancestors: Vec<(Id, u8, WorkFacts)> = Vec::new();
    let mut frontier = sold.originals.clone();
    let mut depth = 1u8;
    while !frontier.is_empty() && ancestors.len() < ANCESTORS_MAX {
        let mut next = Vec::new();
        for original in frontier {
            if ancestors.len() >= ANCESTORS_MAX || !seen.insert(original) {
                continue;
            }
            let f = facts(original);
            next.extend(f.originals.iter().copied());
            ancestors.push((original, depth, f));
        }
        frontier = next;
        depth = depth.saturating_add(1);
    }
    // (work, depth, share in basis points, its authors with their shares)
    type Paying = (Id, u8, u64, Vec<(Id, u64)>);
    let paying: Vec<Paying> = ancestors
        .into_iter()
        .filter_map(|(id, depth, f)| {
            let royalty = f.royalty?;
            let applies = depth == 1 || royalty.scope == Scope::Chain;
            (applies && !f.authors.is_empty()).then_some((id, depth, u64::from(royalty.share_bp), f.authors))
        })
        .collect();
    let declared: u64 = paying.iter().map(|p| p.2).sum();
    let royalties = declared.min(ROYALTIES_MAX_BP);
    // First level, over the common denominator BP × declared: fee, rest, each ancestor.
    let scale = declared.max(1);
    let mut shares: Vec<(Id, u64)> = vec![(Id(0), fee_bp * scale), (Id(1), (BP - fee_bp - royalties) * scale)];
    shares.extend(paying.iter().enumerate().map(|(i, p)| (Id(2 + i as u64), p.2 * royalties)));
    let parts = ledger::split(price, &shares);
    let mut legs = Vec::new();
    if parts[0].1 > 0 {
        legs.push(Leg { to: FEES, amount: parts[0].1, role: Role::Fee, work: None, share_bp: fee_bp as u16, depth: 0 });
    }
    for (i, (id, depth, share, authors)) in paying.iter().enumerate() {
        let amount = parts[2 + i].1;
        let share_bp = (share * royalties).checked_div(declared).unwrap_or(0) as u16;
        for (to, part) in ledger::split(amount, authors) {
            if part > 0 {
                legs.push(Leg { to, amount: part, role: Role::Royalty, work: Some(*id), share_bp, depth: *depth });
            }
        }
    }
    let rest = parts[1].1;
    let authors = if kind == ListingKind::Commission || sold.authors.is_empty() {
        vec![(seller, 1)]
    } else {
        sold.authors.clone()
    };
    let role = if kind == ListingKind::Commission { Role::Seller } else { Role::Author };
    for (to, part) in ledger::split(rest, &authors) {
        if part > 0 {
            legs.push(Leg { to, amount: part, role, work: Some(work), share_bp: 0, depth: 0 });
        }
    }
    legs
}

/// A settlement of a pending transfer: `post` piastres of it move (0 voids it; less than its
/// amount releases the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settle {
    /// The pending transfer.
    pub id: u128,
    /// What moves.
    pub post: u64,
}

/// Where a milestone stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// The contract is not accepted yet.
    Proposed,
    /// Its amount waits in escrow.
    Funded,
    /// The creator says it is delivered; the client has not answered.
    Delivered,
    /// Disputed: a jury decides.
    Disputed,
    /// Paid to the creator.
    Paid,
    /// Returned to the client.
    Refunded,
    /// Split by a jury's ruling.
    Split,
}

impl Stage {
    /// Whether its escrow is still pending.
    pub fn in_escrow(self) -> bool {
        matches!(self, Stage::Funded | Stage::Delivered | Stage::Disputed)
    }
}

/// A dispute over a milestone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The party who disputed.
    pub by: Id,
    /// Their statement.
    pub statement: String,
    /// When.
    pub filed_ms: i64,
    /// The log position whose chain hash seeded the jury's draw.
    pub seed_seq: u64,
    /// That hash.
    pub seed_hash: [u8; 32],
    /// The jurors.
    pub jury: Vec<Id>,
    /// Each juror's ruling — the creator's part in basis points — with its public reason.
    pub votes: BTreeMap<Id, (u16, String)>,
    /// The ruling, once decided: the creator's part in basis points.
    pub ruling: Option<u16>,
}

/// The ruling of a jury of `size` with `votes` (the creator's part in basis points), once
/// decided: when a majority names the same part, or when every seat has voted (their median).
pub fn ruling(size: usize, votes: &[u16]) -> Option<u16> {
    let majority = size / 2 + 1;
    for &v in votes {
        if votes.iter().filter(|&&w| w == v).count() >= majority {
            return Some(v);
        }
    }
    if votes.len() >= size {
        let mut sorted = votes.to_vec();
        sorted.sort_unstable();
        return Some(sorted[(sorted.len() - 1) / 2]);
    }
    None
}

/// One milestone of a contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// What is delivered.
    pub title: String,
    /// Piastres.
    pub amount: u64,
    /// When it is due, in milliseconds since the Unix epoch.
    pub due_ms: i64,
    /// Where it stands.
    pub stage: Stage,
    /// Its escrow's pending transfer (client → creator).
    pub transfer: u128,
    /// When the creator delivered it.
    pub delivered_ms: Option<i64>,
    /// What the creator received once settled.
    pub paid: u64,
    /// Its dispute, if any.
    pub dispute: Option<Box<Dispute>>,
}

/// Where a contract stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Proposed, not accepted yet.
    Proposed,
    /// Accepted: its milestones are in escrow.
    Active,
    /// Every milestone is settled.
    Completed,
    /// Ended by agreement (or withdrawn or declined before acceptance).
    Cancelled,
}

/// A micro-contract between two masks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// Who pays.
    pub client: Id,
    /// Who delivers.
    pub creator: Id,
    /// Which of the two proposed it.
    pub proposer: Id,
    /// The world whose jury hears its disputes.
    pub world: Option<Id>,
    /// Its milestones.
    pub milestones: Vec<Milestone>,
    /// Where it stands.
    pub status: Status,
    /// How long after a milestone's due time it settles by itself.
    pub grace_ms: i64,
    /// The party that asked to cancel, waiting for the other.
    pub cancel_asked: Option<Id>,
    /// When it was proposed.
    pub created_ms: i64,
}

impl Contract {
    /// Whether `mask` is one of its two parties.
    pub fn party(&self, mask: Id) -> bool {
        mask == self.client || mask == self.creator
    }

    /// When milestone `i` settles by itself, while it waits in escrow undisputed.
    pub fn deadline(&self, i: usize) -> Option<i64> {
        let m = &self.milestones[i];
        matches!(m.stage, Stage::Funded | Stage::Delivered).then(|| m.due_ms.saturating_add(self.grace_ms))
    }
}

/// An economy event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Econ {
    /// A linked group of transfers, all made together.
    Transferred {
        /// The new transfers.
        transfers: Vec<Transfer>,
        /// When they were made (pending transfers time out from here).
        at_ms: i64,
    },
    /// Pending transfers settled (posted, voided, or timed out).
    Settled {
        /// The settlements.
        settles: Vec<Settle>,
    },
    /// The operator issued money, with a reason.
    Issued {
        /// The new transfers (from [`ISSUANCE`]).
        transfers: Vec<Transfer>,
        /// Why.
        reason: String,
    },
    /// A listing was made.
    Listed {
        /// The listing vertex.
        listing: Id,
        /// The listing.
        body: Box<Listing>,
    },
    /// A listing was closed by its seller.
    ListingClosed {
        /// The listing.
        listing: Id,
    },
    /// A purchase: its legs as one linked group.
    Bought {
        /// The trade.
        trade: Box<Trade>,
        /// The legs' transfers (a leg paid to the buyer itself moves nothing).
        transfers: Vec<Transfer>,
    },
    /// A contract was proposed.
    ContractProposed {
        /// The contract vertex.
        contract: Id,
        /// The contract.
        body: Box<Contract>,
    },
    /// A contract was accepted: every milestone funded into escrow, as one linked group.
    ContractAccepted {
        /// The contract.
        contract: Id,
        /// The pending transfers, one per milestone.
        transfers: Vec<Transfer>,
    },
    /// The creator delivered a milestone.
    Delivered {
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
        /// When.
        at_ms: i64,
    },
    /// A milestone's escrow was settled: approved, lapsed, or ruled on.
    MilestoneSettled {
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
        /// Where it ends.
        stage: Stage,
        /// The settlement of its pending transfer.
        settle: Settle,
    },
    /// A party asked to cancel; the other has not agreed yet.
    CancelAsked {
        /// The contract.
        contract: Id,
        /// The party.
        by: Id,
    },
    /// A contract ended by agreement: what was in escrow returns to the client.
    Cancelled {
        /// The contract.
        contract: Id,
        /// The voided escrows.
        settles: Vec<Settle>,
    },
    /// A milestone was disputed, and its jury drawn.
    Disputed {
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
        /// The dispute.
        dispute: Box<Dispute>,
    },
    /// A juror ruled on a dispute, with a public reason.
    JurorRuled {
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
        /// The juror.
        juror: Id,
        /// The creator's part in basis points.
        creator_bp: u16,
        /// Why.
        reason: String,
    },
}

impl Econ {
    /// The new transfers the event makes.
    pub fn transfers(&self) -> &[Transfer] {
        match self {
            Econ::Transferred { transfers, .. }
            | Econ::Issued { transfers, .. }
            | Econ::Bought { transfers, .. }
            | Econ::ContractAccepted { transfers, .. } => transfers,
            _ => &[],
        }
    }

    /// The settlements the event makes.
    pub fn settles(&self) -> &[Settle] {
        match self {
            Econ::Settled { settles } | Econ::Cancelled { settles, .. } => settles,
            Econ::MilestoneSettled { settle, .. } => std::slice::from_ref(settle),
            _ => &[],
        }
    }

    /// The contract the event concerns, if any.
    pub fn contract(&self) -> Option<Id> {
        match self {
            Econ::ContractProposed { contract, .. }
            | Econ::ContractAccepted { contract, .. }
            | Econ::Delivered { contract, .. }
            | Econ::MilestoneSettled { contract, .. }
            | Econ::CancelAsked { contract, .. }
            | Econ::Cancelled { contract, .. }
            | Econ::Disputed { contract, .. }
            | Econ::JurorRuled { contract, .. } => Some(*contract),
            _ => None,
        }
    }

    /// The listing the event concerns, if any.
    pub fn listing(&self) -> Option<Id> {
        match self {
            Econ::Listed { listing, .. } | Econ::ListingClosed { listing } => Some(*listing),
            Econ::Bought { trade, .. } => Some(trade.listing),
            _ => None,
        }
    }
}

/// Everything the economy's events built: the ledger, listings, trades and contracts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Economy {
    /// Accounts and transfers.
    pub ledger: Ledger,
    /// Every listing.
    pub listings: BTreeMap<Id, Listing>,
    /// Every trade, by the buyer's key.
    pub trades: BTreeMap<u128, Trade>,
    /// Every contract.
    pub contracts: BTreeMap<Id, Contract>,
    /// Milestones waiting in escrow, by when they settle by themselves.
    pub deadlines: BTreeSet<(i64, Id, u16)>,
    /// Piastres issued so far.
    pub issued: u128,
}

impl Economy {
    /// Applies one event: its transfers and settlements to the ledger, the rest to listings,
    /// trades and contracts.
    pub fn apply(&mut self, event: &Econ) -> Result<(), String> {
        if matches!(event, Econ::Issued { .. }) {
            self.ledger.open_system(ISSUANCE);
        }
        if !event.transfers().is_empty() {
            let at_ms = match event {
                Econ::Transferred { at_ms, .. } => *at_ms,
                _ => 0,
            };
            self.ledger.transfer(event.transfers(), at_ms).map_err(|e| format!("{event:?}: {e}"))?;
        }
        for s in event.settles() {
            self.ledger.settle(s.id, s.post).map_err(|e| format!("{event:?}: {e}"))?;
        }
        if let Econ::Issued { transfers, .. } = event {
            self.issued += transfers.iter().map(|t| u128::from(t.amount)).sum::<u128>();
        }
        self.apply_domain(event)
    }

    /// Applies the part of an event that is not the ledger's: what a view of staged events
    /// replays onto a copy of the contracts and listings it concerns.
    pub fn apply_domain(&mut self, event: &Econ) -> Result<(), String> {
        match event {
            Econ::Transferred { .. } | Econ::Settled { .. } | Econ::Issued { .. } => {}
            Econ::Listed { listing, body } => {
                self.listings.insert(*listing, (**body).clone());
            }
            Econ::ListingClosed { listing } => {
                self.listings.get_mut(listing).ok_or_else(|| format!("no listing {listing}"))?.open = false;
            }
            Econ::Bought { trade, .. } => {
                if let Some(listing) = self.listings.get_mut(&trade.listing) {
                    listing.trades.push(trade.id);
                }
                self.trades.insert(trade.id, (**trade).clone());
            }
            Econ::ContractProposed { contract, body } => {
                self.contracts.insert(*contract, (**body).clone());
            }
            Econ::ContractAccepted { contract, .. } => {
                let c = contract_of(&mut self.contracts, *contract)?;
                c.status = Status::Active;
                for m in &mut c.milestones {
                    m.stage = Stage::Funded;
                }
                self.reschedule(*contract);
            }
            Econ::Delivered { contract, milestone, at_ms } => {
                let m = milestone_of(contract_of(&mut self.contracts, *contract)?, *milestone)?;
                m.stage = Stage::Delivered;
                m.delivered_ms = Some(*at_ms);
            }
            Econ::MilestoneSettled { contract, milestone, stage, settle } => {
                let c = contract_of(&mut self.contracts, *contract)?;
                let m = milestone_of(c, *milestone)?;
                m.stage = *stage;
                m.paid = settle.post;
                if c.milestones.iter().all(|m| !m.stage.in_escrow() && m.stage != Stage::Proposed) {
                    c.status = Status::Completed;
                }
                self.reschedule(*contract);
            }
            Econ::CancelAsked { contract, by } => {
                contract_of(&mut self.contracts, *contract)?.cancel_asked = Some(*by);
            }
            Econ::Cancelled { contract, .. } => {
                let c = contract_of(&mut self.contracts, *contract)?;
                c.status = Status::Cancelled;
                for m in &mut c.milestones {
                    if m.stage.in_escrow() || m.stage == Stage::Proposed {
                        m.stage = Stage::Refunded;
                    }
                }
                self.reschedule(*contract);
            }
            Econ::Disputed { contract, milestone, dispute } => {
                let m = milestone_of(contract_of(&mut self.contracts, *contract)?, *milestone)?;
                m.stage = Stage::Disputed;
                m.dispute = Some(dispute.clone());
                self.reschedule(*contract);
            }
            Econ::JurorRuled { contract, milestone, juror, creator_bp, reason } => {
                let m = milestone_of(contract_of(&mut self.contracts, *contract)?, *milestone)?;
                let d =
                    m.dispute.as_mut().ok_or_else(|| format!("milestone {milestone} of {contract} is not disputed"))?;
                d.votes.insert(*juror, (*creator_bp, reason.clone()));
                let votes: Vec<u16> = d.votes.values().map(|v| v.0).collect();
                d.ruling = ruling(d.jury.len(), &votes);
            }
        }
        Ok(())
    }

    /// Files a contract's milestones under their deadlines anew.
    fn reschedule(&mut self, contract: Id) {
        let Some(c) = self.contracts.get(&contract) else { return };
        for (i, m) in c.milestones.iter().enumerate() {
            self.deadlines.remove(&(m.due_ms.saturating_add(c.grace_ms), contract, i as u16));
            if let Some(at) = c.deadline(i) {
                self.deadlines.insert((at, contract, i as u16));
            }
        }
    }

    /// Milestones whose deadline the clock at `now_ms` has passed, at most `limit`.
    pub fn lapsed(&self, now_ms: i64, limit: usize) -> Vec<(Id, u16)> {
        self.deadlines.iter().take_while(|d| d.0 <= now_ms).take(limit).map(|&(_, c, i)| (c, i)).collect()
    }

    /// Checks the ledger's invariants and that every escrow matches its milestone.
    pub fn check(&self) -> Result<(), String> {
        self.ledger.check()?;
        let issued: u128 =
            self.ledger.transfers.values().filter(|s| s.transfer.debit == ISSUANCE).map(|s| u128::from(s.posted)).sum();
        if issued != self.issued {
            return Err(format!("{} piastres were issued, but the issuance account paid {issued}", self.issued));
        }
        for (id, c) in &self.contracts {
            for (i, m) in c.milestones.iter().enumerate() {
                let stored: Option<&Stored> = self.ledger.transfers.get(&m.transfer);
                let fine = match (m.stage, stored) {
                    (Stage::Proposed, None) => true,
                    (Stage::Funded | Stage::Delivered | Stage::Disputed, Some(s)) => s.state == ledger::State::Pending,
                    (Stage::Paid | Stage::Split | Stage::Refunded, Some(s)) => s.posted == m.paid,
                    (Stage::Refunded, None) => c.status == Status::Cancelled,
                    _ => false,
                };
                if !fine {
                    return Err(format!("contract {id}'s milestone {i} is {:?} but its escrow is {stored:?}", m.stage));
                }
            }
        }
        Ok(())
    }
}

fn contract_of(contracts: &mut BTreeMap<Id, Contract>, id: Id) -> Result<&mut Contract, String> {
    contracts.get_mut(&id).ok_or_else(|| format!("no contract {id}"))
}

fn milestone_of(c: &mut Contract, i: u16) -> Result<&mut Milestone, String> {
    c.milestones.get_mut(usize::from(i)).ok_or_else(|| format!("no milestone {i}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_parsed_exactly() {
        assert_eq!(parse_share("0.10"), Ok(1_000));
        assert_eq!(parse_share("0.0025"), Ok(25));
        assert!(parse_share(".5").is_err());
        for bad in ["0", "0.00001", "0.6", "1", "-0.1", "1e-2", ""] {
            assert!(parse_share(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_share(1_000), "0.1000");
    }

    #[test]
    fn a_jury_rules_by_majority_or_median() {
        assert_eq!(ruling(3, &[10_000, 10_000]), Some(10_000));
        assert_eq!(ruling(3, &[10_000, 0]), None);
        assert_eq!(ruling(3, &[10_000, 0, 5_000]), Some(5_000));
        assert_eq!(ruling(3, &[0, 2_000, 0]), Some(0));
    }

    /// A property: for random remix DAGs, author shares, royalties, fees and prices, the legs
    /// add up to the price exactly, no leg is empty, and royalties never take more than their cap.
    #[test]
    fn legs_always_add_up_to_the_price() {
        let mut rng = crate::SplitMix64::new(21);
        for _ in 0..3_000 {
            let n = 1 + (rng.next_u64() % 12) as usize;
            let works: Vec<WorkFacts> = (0..n)
                .map(|i| {
                    let authors =
                        (0..1 + rng.next_u64() % 4).map(|a| (Id(100 + a), 1 + rng.next_u64() % 10_000)).collect();
                    let royalty = (!rng.next_u64().is_multiple_of(3)).then(|| Royalty {
                        share_bp: 1 + (rng.next_u64() % u64::from(ROYALTY_SHARE_MAX_BP)) as u16,
                        scope: if rng.next_u64().is_multiple_of(2) { Scope::Chain } else { Scope::Children },
                    });
                    // Originals come earlier: a DAG, sometimes with two parents.
                    let originals = (0..i).filter(|_| rng.next_u64().is_multiple_of(3)).map(|o| Id(o as u64)).collect();
                    WorkFacts { authors, royalty, originals }
                })
                .collect();
            let price = 1 + rng.next_u64() % 10_000_000;
            let fee = (rng.next_u64() % u64::from(FEE_MAX_BP + 1)) as u16;
            let kind =
                [ListingKind::Sale, ListingKind::Commission, ListingKind::License][(rng.next_u64() % 3) as usize];
            let facts = |w: Id| works[w.0 as usize].clone();
            let legs = split_sale(price, fee, Id(n as u64 - 1), kind, Id(100), &facts);
            assert_eq!(legs.iter().map(|l| l.amount).sum::<u64>(), price);
            assert!(legs.iter().all(|l| l.amount > 0));
            let royalties: u64 = legs.iter().filter(|l| l.role == Role::Royalty).map(|l| l.amount).sum();
            assert!(u128::from(royalties) <= u128::from(price) * u128::from(ROYALTIES_MAX_BP) / u128::from(BP) + 32);
        }
    }

    #[test]
    fn leg_ids_differ_by_index_and_key() {
        let ids: BTreeSet<u128> = (0..100).map(|i| leg_id(7, i)).chain((0..100).map(|i| leg_id(8, i))).collect();
        assert_eq!(ids.len(), 200);
    }
}
