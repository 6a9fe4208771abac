//! The economy over GraphQL: transfers between masks (idempotent, two-phase), listings and
//! purchases whose price is split up the remix chain, and contracts whose milestones wait in
//! escrow. Amounts are EGP as decimal strings with at most two decimals (`"12.50"`), parsed
//! exactly into piastres; nothing on a money path is a float. A mask's balance and transfers
//! are its owner's alone; a contract is its parties' (and, while disputed, its jurors').

use super::connection::{Conn, page};
use super::mutation::{actor, execute, target};
use super::types::{Mask, Sight, Work};
use super::{payload, state};
use crate::error::{ApiError, Code, UserError};
use crate::ids::NodeKind;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use graph_engine::Graph;
use schema::economy::{self as econ, code};
use schema::ledger::{self, format_egp, parse_egp};
use schema::{Actor, Command, Id, NewContract};

/// The economy's mutations.
#[derive(Default)]
pub struct EconomyMutation;

/// The economy's queries.
#[derive(Default)]
pub struct EconomyQuery;

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadUserInput, message).field(field)
}

/// An amount in EGP, exactly, or BAD_USER_INPUT naming `field`.
fn egp(field: &str, text: &str) -> std::result::Result<u64, ApiError> {
    parse_egp(text).map_err(|e| bad(field, e))
}

/// The idempotency key a client chose, checked.
fn key_text(field: &str, key: &str) -> std::result::Result<(), ApiError> {
    if key.is_empty() || key.len() > 128 {
        return Err(bad(field, "an idempotency key of 1 to 128 bytes"));
    }
    Ok(())
}

/// The ledger id of a client's key (see [`graph_engine::ledger_key`]).
pub(crate) fn scoped(domain: &str, mask: Id, key: &str) -> u128 {
    graph_engine::ledger_key(domain, mask, key)
}

/// A transfer's id as the API shows it: 32 hex digits.
fn transfer_id(id: u128) -> String {
    format!("{id:032x}")
}

/// The pending transfer `id` names for `mask`: its own key first, then a shown transfer id.
fn resolve(graph: &Graph, mask: Id, id: &str) -> u128 {
    let own = scoped("transfer", mask, id);
    if graph.economy().ledger.transfers.contains_key(&own) {
        return own;
    }
    match u128::from_str_radix(id, 16) {
        Ok(raw) if id.len() == 32 && graph.economy().ledger.transfers.contains_key(&raw) => raw,
        _ => own,
    }
}

/// Where a transfer stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferState {
    /// Reserved, until posted, voided or timed out.
    Pending,
    /// Moved.
    Posted,
    /// Released.
    Voided,
}

/// What a transfer was for.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferCode {
    /// One mask paid another.
    Transfer,
    /// The operator issued money.
    Issue,
    /// A sale's proceeds.
    Sale,
    /// A sale's platform fee.
    Fee,
    /// A royalty up the remix chain.
    Royalty,
    /// A contract's milestone in escrow.
    Escrow,
}

fn transfer_code(c: u16) -> TransferCode {
    match c {
        code::ISSUE => TransferCode::Issue,
        code::SALE => TransferCode::Sale,
        code::FEE => TransferCode::Fee,
        code::ROYALTY => TransferCode::Royalty,
        code::ESCROW => TransferCode::Escrow,
        _ => TransferCode::Transfer,
    }
}

/// A transfer, as one of its two masks' owner sees it.
#[derive(SimpleObject, Clone, Debug)]
pub struct Transfer {
    /// Its ledger id (32 hex digits). The payer may name it by the key it chose instead.
    pub id: String,
    /// The amount in EGP ("12.50").
    pub amount: String,
    /// What moved once posted (a pending transfer may be posted in part), in EGP.
    pub posted: String,
    /// Whether the viewer's mask received it (false: it paid).
    pub incoming: bool,
    /// The other side: a mask the viewer may see; null for the operator's issuance and the
    /// platform's fee account.
    pub counterparty: Option<Mask>,
    /// What it was for.
    pub code: TransferCode,
    /// Where it stands.
    pub state: TransferState,
    /// When it was made, in milliseconds since the Unix epoch (a decimal string).
    pub created_at: String,
    /// When a pending one times out (a decimal string), if it does.
    pub expires_at: Option<String>,
}

impl Transfer {
    fn of(ctx: &Context<'_>, graph: &Graph, s: &ledger::Stored, mine: Id) -> Transfer {
        Transfer::seen_by(&Sight::of(ctx), graph, s, mine)
    }

    /// A transfer as the owner of `mine`, one of its two masks, sees it.
    pub(crate) fn seen_by(sight: &Sight, graph: &Graph, s: &ledger::Stored, mine: Id) -> Transfer {
        let t = &s.transfer;
        let incoming = t.credit == mine;
        let other = if incoming { t.debit } else { t.credit };
        Transfer {
            id: transfer_id(t.id),
            amount: format_egp(t.amount),
            posted: format_egp(s.posted),
            incoming,
            counterparty: sight.mask_by_id(graph, other),
            code: transfer_code(t.code),
            state: match s.state {
                ledger::State::Pending => TransferState::Pending,
                ledger::State::Posted => TransferState::Posted,
                ledger::State::Voided => TransferState::Voided,
            },
            created_at: s.at_ms.to_string(),
            expires_at: s.expires_ms().map(|at| at.to_string()),
        }
    }
}

/// A mask's balance in EGP (owner only).
pub(crate) fn balance_of(graph: &Graph, mask: Id) -> (String, String) {
    let a = graph.economy().ledger.accounts.get(&mask).cloned().unwrap_or_default();
    (format_egp(a.balance().max(0) as u64), format_egp(a.available().max(0) as u64))
}

/// A mask's transfers, newest first (owner only).
pub(crate) fn transfers_of(
    ctx: &Context<'_>,
    mask: Id,
    paging: (Option<i32>, Option<i32>, Option<String>, Option<String>),
) -> Result<Conn<Transfer>> {
    let graph = state(ctx).engine.read();
    let ledger = &graph.economy().ledger;
    let mut ids: Vec<u128> = ledger.by_account.get(&mask).cloned().unwrap_or_default();
    ids.reverse();
    page(&ids, paging, |id| Transfer::of(ctx, &graph, &ledger.transfers[&id], mask))
}

/// What a listing offers.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingKind {
    /// The work itself.
    Sale,
    /// The seller's work to order.
    Commission,
    /// A license to use or remix the work.
    License,
}

impl From<ListingKind> for econ::ListingKind {
    fn from(k: ListingKind) -> econ::ListingKind {
        match k {
            ListingKind::Sale => econ::ListingKind::Sale,
            ListingKind::Commission => econ::ListingKind::Commission,
            ListingKind::License => econ::ListingKind::License,
        }
    }
}

impl From<econ::ListingKind> for ListingKind {
    fn from(k: econ::ListingKind) -> ListingKind {
        match k {
            econ::ListingKind::Sale => ListingKind::Sale,
            econ::ListingKind::Commission => ListingKind::Commission,
            econ::ListingKind::License => ListingKind::License,
        }
    }
}

/// A marketplace listing.
#[derive(Clone, Copy, Debug)]
pub struct Listing {
    pub(crate) id: Id,
}

impl Listing {
    pub(crate) fn get(graph: &Graph, id: Id) -> Option<Listing> {
        graph.economy().listings.contains_key(&id).then_some(Listing { id })
    }

    fn with<T>(&self, ctx: &Context<'_>, f: impl FnOnce(&Graph, &econ::Listing) -> T) -> T {
        let graph = state(ctx).engine.read();
        let listing = graph.economy().listings.get(&self.id).expect("listings are never removed");
        f(&graph, listing)
    }
}

#[Object]
impl Listing {
    /// The opaque global id.
    pub async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Listing, self.id))
    }
    /// The selling mask.
    async fn seller(&self, ctx: &Context<'_>) -> Option<Mask> {
        self.with(ctx, |g, l| Sight::of(ctx).mask_by_id(g, l.seller))
    }
    /// The work.
    async fn work(&self, ctx: &Context<'_>) -> Option<Work> {
        self.with(ctx, |g, l| g.index_of(l.work).and_then(|v| Sight::of(ctx).work(g, v)))
    }
    /// What it offers.
    async fn kind(&self, ctx: &Context<'_>) -> ListingKind {
        self.with(ctx, |_, l| l.kind.into())
    }
    /// The price in EGP ("12.50").
    async fn price(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, l| format_egp(l.price))
    }
    /// The terms, as written.
    async fn terms(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, l| l.terms.clone())
    }
    /// Whether it still sells.
    async fn open(&self, ctx: &Context<'_>) -> bool {
        self.with(ctx, |_, l| l.open)
    }
    /// How many purchases it has had.
    async fn trade_count(&self, ctx: &Context<'_>) -> i32 {
        self.with(ctx, |_, l| l.trades.len() as i32)
    }
    /// How a purchase at its price would be split now: fee, royalties up the remix chain, the
    /// authors' part — the legs a buyer would pay, to the piastre.
    async fn split(&self, ctx: &Context<'_>) -> Vec<Leg> {
        let fee_bp = state(ctx).fee_bp;
        self.with(ctx, |g, l| {
            let view = graph_engine::GraphView(g);
            let facts = |w: Id| econ_facts(&view, w);
            econ::split_sale(l.price, fee_bp, l.work, l.kind, l.seller, &facts)
                .iter()
                .map(|leg| Leg::of(ctx, g, leg))
                .collect()
        })
    }
}

fn econ_facts(view: &dyn schema::View, work: Id) -> econ::WorkFacts {
    use schema::EdgeKind;
    econ::WorkFacts {
        authors: view
            .sources(EdgeKind::Authored, work, schema::AUTHORS_MAX)
            .into_iter()
            .map(|a| {
                let share = view.edge_weight(EdgeKind::Authored, a, work).unwrap_or(1.0);
                let bp =
                    if share.is_finite() && share > 0.0 { (f64::from(share) * 10_000.0).round() as u64 } else { 0 };
                (a, bp.max(1))
            })
            .collect(),
        royalty: view.royalty(work),
        originals: view.targets(EdgeKind::RemixOf, work, econ::ANCESTORS_MAX),
    }
}

/// Why a leg of a trade is paid.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegRole {
    /// An author of the sold work (its share of what is left after fee and royalties).
    Author,
    /// A commission's seller.
    Seller,
    /// The platform's fee.
    Fee,
    /// An author of an original up the remix chain.
    Royalty,
}

/// One leg of a trade: who got what, and why.
#[derive(SimpleObject, Clone, Debug)]
pub struct Leg {
    /// The mask paid (null for the platform's fee).
    pub to: Option<Mask>,
    /// EGP.
    pub amount: String,
    /// Why.
    pub role: LegRole,
    /// The work whose authorship earns it.
    pub work: Option<Work>,
    /// For a royalty: the share of the price applied to the work's authors together, as a
    /// decimal fraction ("0.1000"), after scaling when declared royalties exceed the cap.
    pub share: Option<String>,
    /// For a royalty: how many remix steps up the chain the work is.
    pub depth: i32,
}

impl Leg {
    fn of(ctx: &Context<'_>, graph: &Graph, leg: &econ::Leg) -> Leg {
        let sight = Sight::of(ctx);
        Leg {
            to: sight.mask_by_id(graph, leg.to),
            amount: format_egp(leg.amount),
            role: match leg.role {
                econ::Role::Author => LegRole::Author,
                econ::Role::Seller => LegRole::Seller,
                econ::Role::Fee => LegRole::Fee,
                econ::Role::Royalty => LegRole::Royalty,
            },
            work: leg.work.and_then(|w| graph.index_of(w)).and_then(|v| sight.work(graph, v)),
            share: (leg.role == econ::Role::Royalty).then(|| econ::format_share(leg.share_bp)),
            depth: i32::from(leg.depth),
        }
    }
}

/// A completed purchase.
#[derive(SimpleObject, Clone, Debug)]
pub struct Trade {
    /// The trade's ledger id (32 hex digits).
    pub id: String,
    /// The listing.
    pub listing: Option<Listing>,
    /// The buyer.
    pub buyer: Option<Mask>,
    /// The seller.
    pub seller: Option<Mask>,
    /// The price paid, in EGP.
    pub price: String,
    /// Where it went: the amounts add up to the price.
    pub legs: Vec<Leg>,
    /// When, in milliseconds since the Unix epoch (a decimal string).
    pub at: String,
}

impl Trade {
    fn of(ctx: &Context<'_>, graph: &Graph, t: &econ::Trade) -> Trade {
        let sight = Sight::of(ctx);
        Trade {
            id: transfer_id(t.id),
            listing: Listing::get(graph, t.listing),
            buyer: sight.mask_by_id(graph, t.buyer),
            seller: sight.mask_by_id(graph, t.seller),
            price: format_egp(t.price),
            legs: t.legs.iter().map(|l| Leg::of(ctx, graph, l)).collect(),
            at: t.at_ms.to_string(),
        }
    }
}

/// Where a milestone stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MilestoneStage {
    /// The contract is not accepted yet.
    Proposed,
    /// Its amount waits in escrow.
    Funded,
    /// Delivered; the client has not answered.
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

/// Where a contract stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractStatus {
    /// Proposed, not accepted yet.
    Proposed,
    /// Accepted: its milestones are in escrow.
    Active,
    /// Every milestone is settled.
    Completed,
    /// Ended by agreement, or withdrawn or declined before acceptance.
    Cancelled,
}

/// Which side the proposer of a contract takes.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ContractRole {
    /// The proposer pays (commissions the counterparty).
    #[default]
    Client,
    /// The proposer delivers (offers its work to the counterparty, who pays on accepting).
    Creator,
}

/// A juror's ruling on a disputed milestone.
#[derive(SimpleObject, Clone, Debug)]
pub struct JurorRuling {
    /// The juror.
    pub juror: Option<Mask>,
    /// The creator's part, as a decimal fraction ("0.5000").
    pub creator_share: String,
    /// The public reason.
    pub reason: String,
}

/// A dispute over a milestone, heard by a jury drawn by reputation from the contract's world.
#[derive(SimpleObject, Clone, Debug)]
pub struct Dispute {
    /// The party who disputed.
    pub by: Option<Mask>,
    /// Their statement.
    pub statement: String,
    /// When, in milliseconds since the Unix epoch (a decimal string).
    pub filed_at: String,
    /// The log position whose chain hash seeded the draw (a decimal string): anyone holding
    /// the log can redraw the jury.
    pub seed_seq: String,
    /// The jurors.
    pub jury: Vec<Mask>,
    /// Their rulings so far.
    pub rulings: Vec<JurorRuling>,
    /// The jury's ruling once decided: the creator's part ("1.0000" all, "0.0000" none).
    pub ruling: Option<String>,
}

/// One milestone of a contract.
#[derive(SimpleObject, Clone, Debug)]
pub struct Milestone {
    /// Its id (the contract's id, a dot, its index).
    pub id: ID,
    /// Its place in the contract, from 0.
    pub index: i32,
    /// What is delivered.
    pub title: String,
    /// EGP.
    pub amount: String,
    /// When it is due, in milliseconds since the Unix epoch (a decimal string).
    pub due: String,
    /// Where it stands.
    pub stage: MilestoneStage,
    /// When the creator delivered it (a decimal string).
    pub delivered_at: Option<String>,
    /// What the creator received once settled, in EGP.
    pub paid: String,
    /// When it settles by itself, while it waits in escrow undisputed: refunded if
    /// undelivered, paid if delivered (a decimal string).
    pub settles_at: Option<String>,
    /// Its dispute, if any.
    pub dispute: Option<Dispute>,
}

/// A micro-contract between two masks: milestones in escrow.
#[derive(Clone, Copy, Debug)]
pub struct Contract {
    pub(crate) id: Id,
}

impl Contract {
    /// The contract `id` if the viewer's user owns a party or a juror of it.
    pub(crate) fn visible(ctx: &Context<'_>, graph: &Graph, id: Id) -> Option<Contract> {
        let c = graph.economy().contracts.get(&id)?;
        let user = super::caller(ctx).and_then(|c| c.user)?;
        let mut masks = vec![c.client, c.creator];
        masks.extend(c.milestones.iter().filter_map(|m| m.dispute.as_ref()).flat_map(|d| d.jury.iter().copied()));
        masks.iter().any(|&m| graph.is_owned_by(m, user)).then_some(Contract { id })
    }

    fn with<T>(&self, ctx: &Context<'_>, f: impl FnOnce(&Graph, &econ::Contract) -> T) -> T {
        let graph = state(ctx).engine.read();
        let c = graph.economy().contracts.get(&self.id).expect("contracts are never removed");
        f(&graph, c)
    }
}

#[Object]
impl Contract {
    /// The opaque global id.
    pub async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Contract, self.id))
    }
    /// Who pays.
    async fn client(&self, ctx: &Context<'_>) -> Option<Mask> {
        self.with(ctx, |g, c| Sight::of(ctx).mask_by_id(g, c.client))
    }
    /// Who delivers.
    async fn creator(&self, ctx: &Context<'_>) -> Option<Mask> {
        self.with(ctx, |g, c| Sight::of(ctx).mask_by_id(g, c.creator))
    }
    /// Which of the two proposed it.
    async fn proposer(&self, ctx: &Context<'_>) -> Option<Mask> {
        self.with(ctx, |g, c| Sight::of(ctx).mask_by_id(g, c.proposer))
    }
    /// Where it stands.
    async fn status(&self, ctx: &Context<'_>) -> ContractStatus {
        self.with(ctx, |_, c| match c.status {
            econ::Status::Proposed => ContractStatus::Proposed,
            econ::Status::Active => ContractStatus::Active,
            econ::Status::Completed => ContractStatus::Completed,
            econ::Status::Cancelled => ContractStatus::Cancelled,
        })
    }
    /// The grace period after each due time, in milliseconds.
    async fn grace_ms(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, c| c.grace_ms.to_string())
    }
    /// The party that asked to cancel, waiting for the other to agree.
    async fn cancel_asked_by(&self, ctx: &Context<'_>) -> Option<Mask> {
        self.with(ctx, |g, c| c.cancel_asked.and_then(|m| Sight::of(ctx).mask_by_id(g, m)))
    }
    /// The total in EGP.
    async fn total(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, c| format_egp(c.milestones.iter().map(|m| m.amount).sum()))
    }
    /// Its milestones, in order.
    async fn milestones(&self, ctx: &Context<'_>) -> Vec<Milestone> {
        let st = state(ctx);
        let global = st.ids.of(NodeKind::Contract, self.id);
        self.with(ctx, |g, c| {
            let sight = Sight::of(ctx);
            let mask = |m: Id| sight.mask_by_id(g, m);
            c.milestones
                .iter()
                .enumerate()
                .map(|(i, m)| Milestone {
                    id: ID(format!("{global}.{i}")),
                    index: i as i32,
                    title: m.title.clone(),
                    amount: format_egp(m.amount),
                    due: m.due_ms.to_string(),
                    stage: match m.stage {
                        econ::Stage::Proposed => MilestoneStage::Proposed,
                        econ::Stage::Funded => MilestoneStage::Funded,
                        econ::Stage::Delivered => MilestoneStage::Delivered,
                        econ::Stage::Disputed => MilestoneStage::Disputed,
                        econ::Stage::Paid => MilestoneStage::Paid,
                        econ::Stage::Refunded => MilestoneStage::Refunded,
                        econ::Stage::Split => MilestoneStage::Split,
                    },
                    delivered_at: m.delivered_ms.map(|t| t.to_string()),
                    paid: format_egp(m.paid),
                    settles_at: c.deadline(i).map(|t| t.to_string()),
                    dispute: m.dispute.as_ref().map(|d| Dispute {
                        by: mask(d.by),
                        statement: d.statement.clone(),
                        filed_at: d.filed_ms.to_string(),
                        seed_seq: d.seed_seq.to_string(),
                        jury: d.jury.iter().filter_map(|&j| mask(j)).collect(),
                        rulings: d
                            .votes
                            .iter()
                            .map(|(&j, (bp, reason))| JurorRuling {
                                juror: mask(j),
                                creator_share: econ::format_share(*bp),
                                reason: reason.clone(),
                            })
                            .collect(),
                        ruling: d.ruling.map(econ::format_share),
                    }),
                })
                .collect()
        })
    }
}

/// The economy's public totals.
#[derive(SimpleObject, Clone, Debug)]
pub struct EconomyTotals {
    /// Every piastre the operator has issued, in EGP: the money supply.
    pub issued: String,
    /// What the platform's fee account holds, in EGP.
    pub fees: String,
    /// What waits in pending transfers (escrow included), in EGP.
    pub pending: String,
    /// How many transfers the ledger holds.
    pub transfers: i32,
    /// The platform's fee on sales, as a decimal fraction ("0.0250").
    pub fee_rate: String,
}

#[Object]
impl EconomyQuery {
    /// A listing by its id.
    async fn listing(&self, ctx: &Context<'_>, id: ID) -> Option<Listing> {
        let graph = state(ctx).engine.read();
        state(ctx).ids.decode_as(NodeKind::Listing, &id).and_then(|l| Listing::get(&graph, l))
    }

    /// Open listings, newest first.
    async fn listings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Listing>> {
        let graph = state(ctx).engine.read();
        let mut ids: Vec<Id> = graph.economy().listings.iter().filter(|(_, l)| l.open).map(|(&id, _)| id).collect();
        ids.reverse();
        page(&ids, (first, last, after, before), |id| Listing { id })
    }

    /// A contract by its id: its parties' owner (and, once disputed, its jurors') only; null
    /// for anyone else, exactly as for none.
    async fn contract(&self, ctx: &Context<'_>, id: ID) -> Option<Contract> {
        let graph = state(ctx).engine.read();
        state(ctx).ids.decode_as(NodeKind::Contract, &id).and_then(|c| Contract::visible(ctx, &graph, c))
    }

    /// The contracts one of your masks is a party to, newest first.
    async fn contracts(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "as")] as_mask: Option<ID>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Contract>> {
        let actor = actor(ctx, &as_mask)?;
        let graph = state(ctx).engine.read();
        let mut ids: Vec<Id> = match actor {
            Ok(a) if graph.is_owned_by(a.mask, a.user) => {
                graph.economy().contracts.iter().filter(|(_, c)| c.party(a.mask)).map(|(&id, _)| id).collect()
            }
            _ => Vec::new(),
        };
        ids.reverse();
        page(&ids, (first, last, after, before), |id| Contract { id })
    }

    /// The economy's totals: what was issued, what fees hold, what waits pending.
    async fn economy(&self, ctx: &Context<'_>) -> EconomyTotals {
        let st = state(ctx);
        let graph = st.engine.read();
        let e = graph.economy();
        let fees = e.ledger.accounts.get(&econ::FEES).map_or(0, |a| a.balance().max(0) as u64);
        let pending: u64 = e.ledger.accounts.values().map(|a| a.debits_pending).sum();
        EconomyTotals {
            issued: format_egp(u64::try_from(e.issued).unwrap_or(u64::MAX)),
            fees: format_egp(fees),
            pending: format_egp(pending),
            transfers: e.ledger.transfers.len().min(i32::MAX as usize) as i32,
            fee_rate: econ::format_share(st.fee_bp),
        }
    }
}

/// Pay another mask.
#[derive(InputObject)]
pub struct TransferInput {
    /// The paying mask (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The mask paid.
    pub to: ID,
    /// EGP with at most two decimals ("12.50").
    pub amount: String,
    /// Your idempotency key (1 to 128 bytes): a retry with the same key and the same fields
    /// returns the first result; the same key with other fields is refused
    /// (IDEMPOTENCY_CONFLICT). Keys are your mask's own.
    pub id: String,
    /// Only reserve the amount until you post it, void it, or it times out.
    #[graphql(default)]
    pub pending: bool,
    /// For a pending transfer: how long until the server's clock voids it, in milliseconds
    /// (up to a year; omitted: never).
    pub timeout_ms: Option<i64>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// One transfer of a linked group.
#[derive(InputObject)]
pub struct LinkedTransferInput {
    /// The mask paid.
    pub to: ID,
    /// EGP with at most two decimals.
    pub amount: String,
    /// Your idempotency key for this transfer.
    pub id: String,
    /// Only reserve the amount.
    #[graphql(default)]
    pub pending: bool,
    /// For a pending transfer: milliseconds until the server's clock voids it.
    pub timeout_ms: Option<i64>,
}

/// Pay several masks at once: all of it or none of it.
#[derive(InputObject)]
pub struct LinkedTransfersInput {
    /// The paying mask.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The transfers, in order (1 to 256).
    pub transfers: Vec<LinkedTransferInput>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A linked group made, or why not (nothing of it was).
#[derive(SimpleObject, Default)]
pub struct LinkedTransfersPayload {
    /// The transfers, as they stand.
    pub transfers: Option<Vec<Transfer>>,
    /// The paying mask's balance after them, in EGP.
    pub balance: Option<String>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong: the field names the transfer (`transfers.2.amount`).
    pub user_errors: Vec<UserError>,
}

/// Post or void a pending transfer.
#[derive(InputObject)]
pub struct SettleInput {
    /// The mask acting: the payer posts or voids; the payee may void.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The key you chose when paying, or the transfer's id (32 hex digits).
    pub id: String,
    /// For a post: how much of it moves, in EGP (omitted: all; less releases the rest).
    pub amount: Option<String>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A transfer made, settled, or refused.
#[derive(SimpleObject, Default)]
pub struct TransferPayload {
    /// The transfer, as it stands.
    pub transfer: Option<Transfer>,
    /// The paying mask's balance after it, in EGP.
    pub balance: Option<String>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong (INSUFFICIENT_FUNDS, IDEMPOTENCY_CONFLICT, NOT_FOUND, …).
    pub user_errors: Vec<UserError>,
}

/// List a work you authored (or your commissions).
#[derive(InputObject)]
pub struct CreateListingInput {
    /// The selling mask (an author of the work).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The work.
    pub work: ID,
    /// What is offered.
    pub kind: ListingKind,
    /// The price in EGP ("120.00").
    pub price: String,
    /// Its title, for discovery (default: the work's title).
    pub title: Option<String>,
    /// The terms.
    #[graphql(default)]
    pub terms: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Close a listing.
#[derive(InputObject)]
pub struct CloseListingInput {
    /// The seller.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The listing.
    pub listing: ID,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A listing made or closed.
#[derive(SimpleObject, Default)]
pub struct ListingPayload {
    /// The listing.
    pub listing: Option<Listing>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong.
    pub user_errors: Vec<UserError>,
}

/// Buy from a listing.
#[derive(InputObject)]
pub struct BuyInput {
    /// The buying mask.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The listing.
    pub listing: ID,
    /// Your idempotency key: a retry returns the first trade.
    pub id: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A purchase made or refused.
#[derive(SimpleObject, Default)]
pub struct TradePayload {
    /// The trade, with its legs.
    pub trade: Option<Trade>,
    /// The buyer's balance after it, in EGP.
    pub balance: Option<String>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong (INSUFFICIENT_FUNDS, LISTING_CLOSED, IDEMPOTENCY_CONFLICT, …).
    pub user_errors: Vec<UserError>,
}

/// One milestone to propose.
#[derive(InputObject)]
pub struct MilestoneInput {
    /// What is delivered.
    pub title: String,
    /// EGP ("250.00").
    pub amount: String,
    /// When it is due, in milliseconds since the Unix epoch (a decimal string).
    pub due: String,
}

/// Propose a contract to another mask.
#[derive(InputObject)]
pub struct ProposeContractInput {
    /// The proposing mask.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The other party.
    pub counterparty: ID,
    /// The side you take (default CLIENT: you pay).
    #[graphql(default)]
    pub role: ContractRole,
    /// The world whose jury hears disputes (default: one both parties are members of).
    pub world: Option<ID>,
    /// The milestones (1 to 32).
    pub milestones: Vec<MilestoneInput>,
    /// How long after a due time a milestone settles by itself, in milliseconds (default 3
    /// days).
    pub grace_ms: Option<i64>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Act on a contract.
#[derive(InputObject)]
pub struct ContractInput {
    /// A party.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The contract.
    pub contract: ID,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Act on a milestone.
#[derive(InputObject)]
pub struct MilestoneActionInput {
    /// A party.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The milestone (`Milestone.id`).
    pub milestone: ID,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Dispute a milestone in escrow.
#[derive(InputObject)]
pub struct DisputeMilestoneInput {
    /// A party.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The milestone.
    pub milestone: ID,
    /// Your statement (public to the jury).
    pub statement: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Rule on a disputed milestone, as one of its jurors.
#[derive(InputObject)]
pub struct RuleDisputeInput {
    /// The juror.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The milestone.
    pub milestone: ID,
    /// The creator's part, a decimal fraction from "0" (all back to the client) to "1" (all
    /// to the creator).
    pub creator_share: String,
    /// Why (public).
    pub reason: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A contract changed, or why not.
#[derive(SimpleObject, Default)]
pub struct ContractPayload {
    /// The contract.
    pub contract: Option<Contract>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong (INSUFFICIENT_FUNDS, NOT_A_PARTY, NOT_FOUND, …).
    pub user_errors: Vec<UserError>,
}

/// A milestone id: the contract and the index.
fn milestone_of(ctx: &Context<'_>, id: &ID) -> std::result::Result<(Id, u16), ApiError> {
    let not_found = || ApiError::new(Code::NotFound, "milestone not found").field("milestone");
    let (contract, index) = id.as_str().rsplit_once('.').ok_or_else(not_found)?;
    let contract = state(ctx).ids.decode_as(NodeKind::Contract, contract).ok_or_else(not_found)?;
    Ok((contract, index.parse().map_err(|_| not_found())?))
}

/// A share as a decimal fraction of one, in basis points (0 to 10000).
fn fraction_bp(field: &str, text: &str) -> std::result::Result<u16, ApiError> {
    let t = text.trim();
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bp = (digits(whole) && frac.is_none_or(|f| digits(f) && f.len() <= 4))
        .then(|| {
            let w: u64 = whole.parse().ok()?;
            let f: u64 = frac.map_or(Some(0), |f| format!("{f:0<4}").parse().ok())?;
            w.checked_mul(10_000)?.checked_add(f)
        })
        .flatten()
        .filter(|&bp| bp <= 10_000);
    bp.map(|bp| bp as u16)
        .ok_or_else(|| bad(field, format!("{t:?} is not a fraction from 0 to 1 with at most four decimals")))
}

impl EconomyMutation {
    async fn settle(&self, ctx: &Context<'_>, input: SettleInput, post: bool) -> Result<TransferPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            key_text("id", &input.id)?;
            let amount = match (&input.amount, post) {
                (Some(a), true) => Some(egp("amount", a)?),
                _ => None,
            };
            let id = resolve(&state(ctx).engine.read(), actor.mask, &input.id);
            let seq = execute(ctx, Command::Settle { actor, id, amount, post }).await.map_err(|e| e.or_field("id"))?;
            Ok(transfer_payload(ctx, actor, id, seq, client.clone()))
        }
        .await;
        payload(result, |user_errors| TransferPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    async fn on_contract(
        &self,
        ctx: &Context<'_>,
        as_mask: &Option<ID>,
        client: Option<String>,
        command: impl FnOnce(Actor) -> std::result::Result<(Id, Command), ApiError>,
    ) -> Result<ContractPayload> {
        let actor = actor(ctx, as_mask)?;
        let result = async {
            let actor = actor?;
            let (contract, command) = command(actor)?;
            let seq = execute(ctx, command).await?;
            let graph = state(ctx).engine.read();
            Ok(ContractPayload {
                contract: Contract::visible(ctx, &graph, contract),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| ContractPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }
}

fn transfer_payload(ctx: &Context<'_>, actor: Actor, id: u128, seq: u64, client: Option<String>) -> TransferPayload {
    let graph = state(ctx).engine.read();
    let transfer = graph.economy().ledger.transfers.get(&id).map(|s| Transfer::of(ctx, &graph, s, actor.mask));
    TransferPayload {
        transfer,
        balance: Some(balance_of(&graph, actor.mask).0),
        seq: Some(seq.to_string()),
        client_mutation_id: client,
        user_errors: Vec::new(),
    }
}

fn contract_id(ctx: &Context<'_>, id: &ID) -> std::result::Result<Id, ApiError> {
    target(ctx, NodeKind::Contract, id, "contract", "contract")
}

#[Object]
impl EconomyMutation {
    /// Pay another mask, at once or as a pending reservation (post or void it later; a
    /// timeout voids it by the server's clock). Your masks cannot pay each other.
    async fn transfer(&self, ctx: &Context<'_>, input: TransferInput) -> Result<TransferPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let to = target(ctx, NodeKind::Mask, &input.to, "to", "mask")?;
            let amount = egp("amount", &input.amount)?;
            key_text("id", &input.id)?;
            let timeout_ms = input.timeout_ms.unwrap_or(0);
            if input.timeout_ms.is_some() && !input.pending {
                return Err(bad("timeoutMs", "only a pending transfer times out"));
            }
            let id = scoped("transfer", actor.mask, &input.id);
            let t = ledger::Transfer {
                id,
                debit: actor.mask,
                credit: to,
                amount,
                code: code::TRANSFER,
                pending: input.pending,
                timeout_ms,
            };
            let seq =
                execute(ctx, Command::Transfer { actor, transfers: vec![t] }).await.map_err(|e| e.or_field("to"))?;
            Ok(transfer_payload(ctx, actor, id, seq, client.clone()))
        }
        .await;
        payload(result, |user_errors| TransferPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    /// Pay several masks as one linked group, in one event: every transfer is made, or —
    /// on any refusal (INSUFFICIENT_FUNDS for the group as a whole, a reused key, a mask not
    /// found) — none is. A retry of the whole group answers with the first result.
    async fn linked_transfers(&self, ctx: &Context<'_>, input: LinkedTransfersInput) -> Result<LinkedTransfersPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            if input.transfers.is_empty() || input.transfers.len() > ledger::GROUP_MAX {
                return Err(bad("transfers", format!("1 to {} transfers", ledger::GROUP_MAX)));
            }
            let mut group = Vec::with_capacity(input.transfers.len());
            for (i, t) in input.transfers.iter().enumerate() {
                let field = |name: &str| format!("transfers[{i}].{name}");
                let to = target(ctx, NodeKind::Mask, &t.to, &field("to"), "mask")?;
                let amount = egp(&field("amount"), &t.amount)?;
                key_text(&field("id"), &t.id)?;
                if t.timeout_ms.is_some() && !t.pending {
                    return Err(bad(&field("timeoutMs"), "only a pending transfer times out"));
                }
                group.push(ledger::Transfer {
                    id: scoped("transfer", actor.mask, &t.id),
                    debit: actor.mask,
                    credit: to,
                    amount,
                    code: code::TRANSFER,
                    pending: t.pending,
                    timeout_ms: t.timeout_ms.unwrap_or(0),
                });
            }
            let ids: Vec<u128> = group.iter().map(|t| t.id).collect();
            let seq = execute(ctx, Command::Transfer { actor, transfers: group }).await?;
            let graph = state(ctx).engine.read();
            let ledger = &graph.economy().ledger;
            Ok(LinkedTransfersPayload {
                transfers: Some(
                    ids.iter()
                        .filter_map(|id| ledger.transfers.get(id))
                        .map(|s| Transfer::of(ctx, &graph, s, actor.mask))
                        .collect(),
                ),
                balance: Some(balance_of(&graph, actor.mask).0),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| LinkedTransfersPayload {
            client_mutation_id: client,
            user_errors,
            ..Default::default()
        })
    }

    /// Post a pending transfer you made: all of it, or `amount` of it (the rest is released).
    async fn post_transfer(&self, ctx: &Context<'_>, input: SettleInput) -> Result<TransferPayload> {
        self.settle(ctx, input, true).await
    }

    /// Void a pending transfer you made or received: the reservation is released.
    async fn void_transfer(&self, ctx: &Context<'_>, input: SettleInput) -> Result<TransferPayload> {
        self.settle(ctx, input, false).await
    }

    /// List a work you authored for SALE or LICENSE, or offer COMMISSIONs. Listings are
    /// public and searchable.
    async fn create_listing(&self, ctx: &Context<'_>, input: CreateListingInput) -> Result<ListingPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let work = target(ctx, NodeKind::Work, &input.work, "work", "work")?;
            let price = egp("price", &input.price)?;
            let listing = state(ctx).engine.new_id();
            let title = match input.title {
                Some(t) => t,
                None => {
                    let graph = state(ctx).engine.read();
                    graph.index_of(work).and_then(|v| super::types::text(&graph, v, "title")).unwrap_or_default()
                }
            };
            let kind = input.kind.into();
            let command = Command::CreateListing { actor, listing, work, kind, title, price, terms: input.terms };
            let seq = execute(ctx, command).await?;
            Ok(ListingPayload {
                listing: Listing::get(&state(ctx).engine.read(), listing),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| ListingPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    /// Close your listing.
    async fn close_listing(&self, ctx: &Context<'_>, input: CloseListingInput) -> Result<ListingPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let listing = target(ctx, NodeKind::Listing, &input.listing, "listing", "listing")?;
            let seq = execute(ctx, Command::CloseListing { actor, listing }).await?;
            Ok(ListingPayload {
                listing: Listing::get(&state(ctx).engine.read(), listing),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| ListingPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    /// Buy from a listing: the price is paid as one linked group — the platform's fee,
    /// royalties up the work's remix chain (split among each original's co-authors), and the
    /// rest to the work's authors — and the trade counts as trust evidence.
    async fn buy(&self, ctx: &Context<'_>, input: BuyInput) -> Result<TradePayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let listing = target(ctx, NodeKind::Listing, &input.listing, "listing", "listing")?;
            key_text("id", &input.id)?;
            let key = scoped("buy", actor.mask, &input.id);
            let fee_bp = state(ctx).fee_bp;
            let seq = execute(ctx, Command::Buy { actor, listing, key, fee_bp }).await?;
            let graph = state(ctx).engine.read();
            Ok(TradePayload {
                trade: graph.economy().trades.get(&key).map(|t| Trade::of(ctx, &graph, t)),
                balance: Some(balance_of(&graph, actor.mask).0),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| TradePayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    /// Propose a contract of milestones to another mask. Nothing moves until the other party
    /// accepts: then every milestone is funded into escrow from the client.
    async fn propose_contract(&self, ctx: &Context<'_>, input: ProposeContractInput) -> Result<ContractPayload> {
        let client = input.client_mutation_id.clone();
        self.on_contract(ctx, &input.as_mask, client, |actor| {
            let counterparty = target(ctx, NodeKind::Mask, &input.counterparty, "counterparty", "mask")?;
            let world = input.world.as_ref().map(|w| target(ctx, NodeKind::World, w, "world", "world")).transpose()?;
            let mut milestones = Vec::with_capacity(input.milestones.len());
            for (i, m) in input.milestones.iter().enumerate() {
                let amount = egp(&format!("milestones[{i}].amount"), &m.amount)?;
                let due = m.due.trim().parse::<i64>().map_err(|_| {
                    bad(&format!("milestones[{i}].due"), "milliseconds since the Unix epoch, a decimal string")
                })?;
                milestones.push((m.title.clone(), amount, due));
            }
            let contract = state(ctx).engine.new_id();
            let new = NewContract {
                actor,
                contract,
                counterparty,
                proposer_pays: input.role == ContractRole::Client,
                world,
                milestones,
                grace_ms: input.grace_ms,
            };
            Ok((contract, Command::ProposeContract(Box::new(new))))
        })
        .await
    }

    /// Accept a contract proposed to you: every milestone is funded into escrow from the
    /// client (INSUFFICIENT_FUNDS if the client's available funds do not cover it).
    async fn accept_contract(&self, ctx: &Context<'_>, input: ContractInput) -> Result<ContractPayload> {
        let client = input.client_mutation_id.clone();
        self.on_contract(ctx, &input.as_mask, client, |actor| {
            let contract = contract_id(ctx, &input.contract)?;
            Ok((contract, Command::AcceptContract { actor, contract }))
        })
        .await
    }

    /// Cancel a contract: before acceptance, either party ends it alone; after, both must ask,
    /// and what waits in escrow returns to the client.
    async fn cancel_contract(&self, ctx: &Context<'_>, input: ContractInput) -> Result<ContractPayload> {
        let client = input.client_mutation_id.clone();
        self.on_contract(ctx, &input.as_mask, client, |actor| {
            let contract = contract_id(ctx, &input.contract)?;
            Ok((contract, Command::CancelContract { actor, contract }))
        })
        .await
    }

    /// Deliver a milestone (the creator): the client approves it, disputes it, or lets its
    /// grace period end, after which it is paid.
    async fn deliver_milestone(&self, ctx: &Context<'_>, input: MilestoneActionInput) -> Result<ContractPayload> {
        let client = input.client_mutation_id.clone();
        self.on_contract(ctx, &input.as_mask, client, |actor| {
            let (contract, milestone) = milestone_of(ctx, &input.milestone)?;
            Ok((contract, Command::DeliverMilestone { actor, contract, milestone }))
        })
        .await
    }

    /// Approve a milestone (the client): its escrow is paid to the creator.
    async fn approve_milestone(&self, ctx: &Context<'_>, input: MilestoneActionInput) -> Result<ContractPayload> {
        let client = input.client_mutation_id.clone();
        self.on_contract(ctx, &input.as_mask, client, |actor| {
            let (contract, milestone) = milestone_of(ctx, &input.milestone)?;
            Ok((contract, Command::ApproveMilestone { actor, contract, milestone }))
        })
        .await
    }

    /// Dispute a milestone in escrow (either party): a jury of 3 is drawn by reputation from
    /// the contract's world, excluding every mask of both parties' users; its ruling pays,
    /// refunds or splits the escrow.
    async fn dispute_milestone(&self, ctx: &Context<'_>, input: DisputeMilestoneInput) -> Result<ContractPayload> {
        let client = input.client_mutation_id.clone();
        self.on_contract(ctx, &input.as_mask, client, |actor| {
            let (contract, milestone) = milestone_of(ctx, &input.milestone)?;
            Ok((contract, Command::DisputeMilestone { actor, contract, milestone, statement: input.statement }))
        })
        .await
    }

    /// Rule on a disputed milestone as one of its jurors: the creator's part, with a public
    /// reason. A majority naming the same part decides; otherwise the median once all rule.
    async fn rule_dispute(&self, ctx: &Context<'_>, input: RuleDisputeInput) -> Result<ContractPayload> {
        let client = input.client_mutation_id.clone();
        self.on_contract(ctx, &input.as_mask, client, |actor| {
            let (contract, milestone) = milestone_of(ctx, &input.milestone)?;
            let creator_bp = fraction_bp("creatorShare", &input.creator_share)?;
            Ok((contract, Command::RuleDispute { actor, contract, milestone, creator_bp, reason: input.reason }))
        })
        .await
    }
}
