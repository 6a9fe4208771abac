//! Commands: what an actor asks for. `decide` turns a command into events or a rejection.

use crate::governance::{Choice, Rules};
use crate::tally::Method;
use crate::{EdgeKind, F32s, I64s, Id, MaskKind, Props, VertexKind};

/// Who acts: an authenticated user, acting as one of their masks. The rules check that the user
/// owns the mask, and answer "mask not found" when not, exactly as when it does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The authenticated user (private).
    pub user: Id,
    /// The mask they act as (what others see).
    pub mask: Id,
}

/// A request to change the graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Register a new user account.
    RegisterUser {
        /// The new user's id.
        user: Id,
    },
    /// Create a mask for a user.
    CreateMask {
        /// The user who will own it.
        user: Id,
        /// The new mask's id.
        mask: Id,
        /// Its kind.
        kind: MaskKind,
        /// Its unique handle.
        handle: String,
        /// Its display name.
        display_name: String,
        /// Its bio.
        bio: String,
    },
    /// Create a world; the founding mask joins it and moderates it.
    CreateWorld {
        /// The founder.
        actor: Actor,
        /// The new world's id.
        world: Id,
        /// Its name.
        name: String,
        /// Its description.
        description: String,
        /// Its tags.
        tags: Vec<String>,
        /// Its rules (None: [`Rules::default`]).
        rules: Option<Rules>,
    },
    /// Join a world.
    JoinWorld {
        /// Who joins.
        actor: Actor,
        /// The world.
        world: Id,
    },
    /// Leave a world (and stop moderating it).
    LeaveWorld {
        /// Who leaves.
        actor: Actor,
        /// The world.
        world: Id,
    },
    /// Follow a mask.
    Follow {
        /// Who follows.
        actor: Actor,
        /// The mask followed.
        target: Id,
    },
    /// Stop following a mask.
    Unfollow {
        /// Who unfollows.
        actor: Actor,
        /// The mask no longer followed.
        target: Id,
    },
    /// A private mask admits a viewer: the viewer's user may see it, and the viewer may follow it.
    Admit {
        /// The private mask (acting).
        actor: Actor,
        /// The mask admitted.
        viewer: Id,
    },
    /// A private mask revokes a viewer's admission; the viewer's follow, if any, ends with it.
    Unadmit {
        /// The private mask (acting).
        actor: Actor,
        /// The mask no longer admitted.
        viewer: Id,
    },
    /// Accept an invitation to co-author a work: the offered share becomes authorship.
    AcceptCoauthorship {
        /// The invited mask (acting).
        actor: Actor,
        /// The work.
        work: Id,
    },
    /// Decline an invitation to co-author a work.
    DeclineCoauthorship {
        /// The invited mask (acting).
        actor: Actor,
        /// The work.
        work: Id,
    },
    /// Rate a mask −10..=10 (replaces an earlier rating).
    Rate {
        /// Who rates.
        actor: Actor,
        /// The mask rated.
        target: Id,
        /// The rating.
        rating: i8,
    },
    /// Endorse a work or a mask.
    Endorse {
        /// Who endorses.
        actor: Actor,
        /// The work or mask endorsed.
        target: Id,
    },
    /// Publish a new work, alone or with co-authors.
    PublishWork {
        /// The publishing author.
        actor: Actor,
        /// The new work's id.
        work: Id,
        /// Its title.
        title: String,
        /// Its description.
        description: String,
        /// The world it is published in, if any (the actor must be a member).
        world: Option<Id>,
        /// Every author with their share; empty means the actor alone, with share 1.
        authors: Vec<(Id, f32)>,
        /// The royalty its remixes pay.
        royalty: Option<crate::economy::Royalty>,
    },
    /// Publish a new work that remixes an existing one.
    Remix {
        /// The remixing author.
        actor: Actor,
        /// The new work's id.
        work: Id,
        /// The work remixed.
        original: Id,
        /// Its title.
        title: String,
        /// Its description.
        description: String,
        /// The royalty its own remixes pay.
        royalty: Option<crate::economy::Royalty>,
    },
    /// Declare that one existing work remixes another (never closes a remix cycle).
    DeclareRemix {
        /// An author of `work`.
        actor: Actor,
        /// The remix.
        work: Id,
        /// The original.
        original: Id,
    },
    /// Record a collaboration with another mask.
    Collaborate {
        /// Who records it.
        actor: Actor,
        /// The collaborator.
        other: Id,
    },
    /// Change the text of a world (its moderators), a work (its authors) or a mask (itself):
    /// `name`/`description` of a world, `title`/`description` of a work, `display_name`/`bio`
    /// of a mask.
    Edit {
        /// Who edits.
        actor: Actor,
        /// The world, work or mask.
        target: Id,
        /// The fields that change, with their new text.
        fields: Vec<(String, String)>,
    },
    /// Hide a world (its moderators), a work (its authors) or a mask (itself) from discovery and
    /// listings, or show it again. Nothing is erased: the log keeps the history.
    Hide {
        /// Who hides.
        actor: Actor,
        /// The world, work or mask.
        target: Id,
        /// `true` hides, `false` shows again.
        hidden: bool,
    },
    /// Start a thread in a world: its title and first post (the actor needs the world's post
    /// privilege).
    StartThread {
        /// Who starts it.
        actor: Actor,
        /// The new thread's id.
        thread: Id,
        /// Its first post's id.
        post: Id,
        /// The world.
        world: Id,
        /// Its title.
        title: String,
        /// The first post's markdown body.
        body: String,
    },
    /// Reply to a thread, or to a post of it.
    Reply {
        /// Who replies.
        actor: Actor,
        /// The new post's id.
        post: Id,
        /// The thread, or the post answered.
        to: Id,
        /// The markdown body.
        body: String,
    },
    /// Replace the body of one's own post.
    EditPost {
        /// The post's writer.
        actor: Actor,
        /// The post.
        post: Id,
        /// The new body.
        body: String,
    },
    /// Hide one's own post (a thread's first post hides the thread), or show it again.
    HidePost {
        /// The post's writer.
        actor: Actor,
        /// The post.
        post: Id,
        /// `true` hides, `false` shows again.
        hidden: bool,
    },
    /// React to a post, change the reaction, or take it back (`None`).
    React {
        /// Who reacts.
        actor: Actor,
        /// The post.
        post: Id,
        /// The reaction, or none.
        reaction: Option<crate::talk::Reaction>,
    },
    /// Make a proposal in a world (the actor needs the world's propose privilege).
    CreateProposal(Box<NewProposal>),
    /// Cast or change a ballot (the latest counts until the proposal closes).
    CastVote {
        /// The voter.
        actor: Actor,
        /// The proposal.
        proposal: Id,
        /// The choice.
        choice: Choice,
    },
    /// Withdraw a ballot.
    WithdrawVote {
        /// The voter.
        actor: Actor,
        /// The proposal.
        proposal: Id,
    },
    /// Delegate one's vote in a world to another mask (for one topic, or "" for all), or take
    /// the delegation back (`to: None`).
    Delegate {
        /// The delegator.
        actor: Actor,
        /// The world.
        world: Id,
        /// The delegate.
        to: Option<Id>,
        /// The topic ("" for every topic).
        topic: String,
    },
    /// Snapshot the REPUTATION weights of a proposal that opens now (it was made to open
    /// later). The server's clock asks, within a second of `opensAt`.
    OpenProposal {
        /// The proposal.
        proposal: Id,
    },
    /// Close a proposal whose voting time is over, recording its result (and, for a passed
    /// rules proposal, adopting its rules). Anyone may ask; the server's clock does when due.
    CloseProposal {
        /// The proposal.
        proposal: Id,
    },
    /// Report a mask or a work to a world's moderators (the reporter is never shown).
    Report {
        /// The reporter.
        actor: Actor,
        /// The world.
        world: Id,
        /// The mask or work.
        target: Id,
        /// Why.
        reason: String,
    },
    /// The governance AI flags a mask or a work of a world for its moderators, with its
    /// evidence: a case with no action, until a moderator acts on it (`Moderate` naming it).
    FlagCase {
        /// The new case's id.
        case: Id,
        /// The world.
        world: Id,
        /// The mask or work.
        target: Id,
        /// The pattern found.
        rule: String,
        /// A summary.
        reason: String,
        /// The edges and scores behind it.
        evidence: Vec<String>,
    },
    /// A moderator acts on a mask or a work of a world, opening a public case (or giving a
    /// flagged case, named by `case`, its action).
    Moderate {
        /// The moderator.
        actor: Actor,
        /// The new case's id.
        case: Id,
        /// The world.
        world: Id,
        /// The mask or work.
        target: Id,
        /// What is done.
        action: crate::governance::Action,
        /// The public reason (required).
        reason: String,
        /// The rule broken.
        rule: String,
    },
    /// The target of a case appeals it: a jury is drawn.
    Appeal {
        /// The target mask, or an author of the target work.
        actor: Actor,
        /// The case.
        case: Id,
        /// The statement.
        statement: String,
    },
    /// A juror votes on the appeal in front of them.
    JuryVote {
        /// The juror.
        actor: Actor,
        /// The case.
        case: Id,
        /// The vote.
        verdict: crate::jury::Verdict,
        /// The public reason (required).
        reason: String,
    },
    /// Pay other masks: a linked group of transfers, each debiting the actor, all made or
    /// none. A transfer whose id is known with the same fields is a retry and changes nothing.
    Transfer {
        /// The payer.
        actor: Actor,
        /// The transfers (debit: the actor's mask).
        transfers: Vec<crate::ledger::Transfer>,
    },
    /// Settle a pending transfer: its payer posts it (all, or `amount` of it, releasing the
    /// rest) or voids it; its payee may void it.
    Settle {
        /// The payer (to post or void) or the payee (to void).
        actor: Actor,
        /// The pending transfer.
        id: u128,
        /// `Some(piastres)` posts (None: all of it); ignored when voiding.
        amount: Option<u64>,
        /// Post (`true`) or void.
        post: bool,
    },
    /// The operator issues money to masks, with a reason (no actor: the data directory's
    /// operator, while no server holds it).
    Issue {
        /// (transfer id, mask, piastres).
        grants: Vec<(u128, Id, u64)>,
        /// Why.
        reason: String,
    },
    /// The clock: voids pending transfers whose timeout passed and settles milestones whose
    /// grace period ended. The server asks every second.
    Tick,
    /// List a work (its author), or the author's commissions.
    CreateListing {
        /// The seller.
        actor: Actor,
        /// The new listing's id.
        listing: Id,
        /// The work.
        work: Id,
        /// What is offered.
        kind: crate::economy::ListingKind,
        /// Its title (what discovery finds it by).
        title: String,
        /// The price in piastres.
        price: u64,
        /// The terms.
        terms: String,
    },
    /// Close a listing (its seller).
    CloseListing {
        /// The seller.
        actor: Actor,
        /// The listing.
        listing: Id,
    },
    /// Buy from a listing: the price split into fee, royalties and the authors' part, paid as
    /// one linked group.
    Buy {
        /// The buyer.
        actor: Actor,
        /// The listing.
        listing: Id,
        /// The buyer's idempotency key, as a transfer id.
        key: u128,
        /// The platform's fee in basis points (the server's configuration).
        fee_bp: u16,
    },
    /// Propose a contract to another mask.
    ProposeContract(Box<NewContract>),
    /// Accept a proposed contract (the party that did not propose it): every milestone is
    /// funded into escrow from the client.
    AcceptContract {
        /// The accepting party.
        actor: Actor,
        /// The contract.
        contract: Id,
    },
    /// The creator delivers a milestone.
    DeliverMilestone {
        /// The creator.
        actor: Actor,
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
    },
    /// The client approves a milestone: its escrow is posted to the creator.
    ApproveMilestone {
        /// The client.
        actor: Actor,
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
    },
    /// A party asks to cancel; once both have, escrow returns to the client. Before
    /// acceptance, either party ends the proposal alone.
    CancelContract {
        /// A party.
        actor: Actor,
        /// The contract.
        contract: Id,
    },
    /// A party disputes a milestone in escrow: a jury is drawn.
    DisputeMilestone {
        /// A party.
        actor: Actor,
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
        /// The statement.
        statement: String,
    },
    /// A juror rules on a disputed milestone: the creator's part, in basis points.
    RuleDispute {
        /// The juror.
        actor: Actor,
        /// The contract.
        contract: Id,
        /// The milestone's index.
        milestone: u16,
        /// The creator's part (0: all back to the client; 10000: all to the creator).
        creator_bp: u16,
        /// The public reason.
        reason: String,
    },
    /// A bulk import (researchers' edge lists, fixtures): all of it or none of it.
    Import(ImportBatch),
    /// Erase an account (the right to be forgotten): its key is destroyed, its masks lose their
    /// owner link and personal text and show as erased; their handles are held for
    /// `handle_cooling_off_ms`, then free for anyone.
    EraseAccount {
        /// The account's user.
        user: Id,
        /// Also hide the works whose every author is erased (otherwise they stay, attributed
        /// to an erased mask).
        hide_works: bool,
        /// How long the masks' handles stay held before others may take them.
        handle_cooling_off_ms: i64,
    },
}

/// A proposal to make.
#[derive(Clone, Debug, PartialEq)]
pub struct NewProposal {
    /// Its author.
    pub actor: Actor,
    /// The new proposal's id.
    pub proposal: Id,
    /// The world.
    pub world: Id,
    /// Its title.
    pub title: String,
    /// Its body (markdown, stored as written).
    pub body: String,
    /// The options' labels.
    pub options: Vec<String>,
    /// How it is counted.
    pub method: Method,
    /// When voting opens (None: now).
    pub opens_at_ms: Option<i64>,
    /// When voting closes.
    pub closes_at_ms: i64,
    /// Participation needed, in basis points.
    pub quorum_bp: u16,
    /// Support to exceed, in basis points.
    pub threshold_bp: u16,
    /// Count each person once.
    pub one_person_one_vote: bool,
    /// Weigh ballots by the world's trust (snapshotted now) instead of equally.
    pub reputation_weight: bool,
    /// QUADRATIC's credit budget (None: the default).
    pub budget: Option<u64>,
    /// Keep who voted what secret.
    pub secret: bool,
    /// The topic delegations may name ("" for none).
    pub topic: String,
    /// Rules the world adopts if it passes with option 0.
    pub rules: Option<Rules>,
    /// Curators (trust's seeds for the world) it designates if it passes with option 0.
    pub curators: Option<Vec<Id>>,
}

/// A contract to propose.
#[derive(Clone, Debug, PartialEq)]
pub struct NewContract {
    /// The proposing party.
    pub actor: Actor,
    /// The new contract's id.
    pub contract: Id,
    /// The other party.
    pub counterparty: Id,
    /// Whether the proposer is the client (who pays) rather than the creator.
    pub proposer_pays: bool,
    /// The world whose jury hears disputes (None: a world both parties are members of).
    pub world: Option<Id>,
    /// The milestones: (title, piastres, due in milliseconds since the Unix epoch).
    pub milestones: Vec<(String, u64, i64)>,
    /// The grace period after each due time (None: the default).
    pub grace_ms: Option<i64>,
}

/// A bulk import, already parsed. Vertices are named by position in a table made of the new
/// vertices (in order) followed by `refs`, the existing vertices the import uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportBatch {
    /// Where the data came from, for the audit trail.
    pub source: String,
    /// New vertices.
    pub vertices: Vec<NewVertex>,
    /// Existing vertices the edges use.
    pub refs: Vec<Id>,
    /// Edges, one batch per kind.
    pub edges: Vec<EdgeBatch>,
}

/// A vertex an import creates.
#[derive(Clone, Debug, PartialEq)]
pub struct NewVertex {
    /// Its id (generated by the importer).
    pub id: Id,
    /// Its kind.
    pub kind: VertexKind,
    /// Its id in the imported file.
    pub external: String,
    /// Its properties.
    pub props: Props,
}

/// Edges of one kind in an import, by position in the import's vertex table.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeBatch {
    /// The kind.
    pub kind: EdgeKind,
    /// Source positions.
    pub src: Vec<u32>,
    /// Target positions.
    pub dst: Vec<u32>,
    /// Weights, if the kind has them.
    pub weight: Option<F32s>,
    /// Times in milliseconds, if given.
    pub time_ms: Option<I64s>,
}

impl EdgeBatch {
    /// An empty batch of `kind`.
    pub fn new(kind: EdgeKind) -> EdgeBatch {
        EdgeBatch { kind, src: Vec::new(), dst: Vec::new(), weight: None, time_ms: None }
    }

    /// The number of edges.
    pub fn len(&self) -> usize {
        self.src.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }
}
