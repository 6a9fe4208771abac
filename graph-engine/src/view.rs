//! The rules' view of the graph during a group commit: the store plus the events decided
//! earlier in the same group, which are not applied yet.

use crate::store::Graph;
use schema::economy::{self, Econ};
use schema::governance::{
    Action, Case, CastBallot, Choice, Gov, Governance, ProposalInfo, Rules, Standing, WEIGHT_SCALE,
};
use schema::ledger::{Account, Stored};
use schema::{EdgeKind, Event, Handle, Id, MaskKind, Value, VertexKind, View};
use std::collections::BTreeMap;

/// Scores of the latest epoch, as the rules need them: the write path asks it for a mask's
/// standing in a world and for REPUTATION weights. The reputation crate implements it; the
/// engine holds the latest ([`crate::Engine::set_reputation`]).
pub trait Reputation: Send + Sync {
    /// The epoch's number.
    fn epoch(&self) -> u64;
    /// Trust and contribution of the graph's vertex `v`, if the epoch knows it (as `id`).
    fn scores(&self, v: u32, id: Id) -> Option<(f64, f64)>;
}

/// The graph overlaid with staged events (at most a group commit's worth, so scanning them is
/// cheap).
pub(crate) struct Overlay<'a> {
    graph: &'a Graph,
    staged: &'a [Event],
    reputation: Option<&'a dyn Reputation>,
}

/// The rules' view of `graph` with the scores of an epoch: for asking what a mask may do
/// (`schema::privilege`) outside the write path.
pub fn view_with<'a>(graph: &'a Graph, reputation: Option<&'a dyn Reputation>) -> impl View + 'a {
    Overlay { graph, staged: &[], reputation }
}

impl<'a> Overlay<'a> {
    pub fn new(graph: &'a Graph, staged: &'a [Event]) -> Overlay<'a> {
        Overlay { graph, staged, reputation: None }
    }

    pub fn with_reputation(mut self, reputation: Option<&'a dyn Reputation>) -> Overlay<'a> {
        self.reputation = reputation;
        self
    }

    /// The staged events as the graph will apply them: [`Event::Owned`] and
    /// [`Event::Confidential`] envelopes opened.
    fn plain(&self) -> impl DoubleEndedIterator<Item = &'a Event> + 'a {
        self.staged.iter().flat_map(|e| match e {
            Event::Owned { events, .. } | Event::Confidential(events) => events.iter(),
            e => std::slice::from_ref(e).iter(),
        })
    }

    /// The staged governance events, in order.
    fn gov(&self) -> impl DoubleEndedIterator<Item = &'a Gov> + 'a {
        self.plain().filter_map(|e| match e {
            Event::Gov(g) => Some(g),
            _ => None,
        })
    }

    /// The staged economy events, in order.
    fn econ(&self) -> impl DoubleEndedIterator<Item = &'a Econ> + 'a {
        self.plain().filter_map(|e| match e {
            Event::Econ(e) => Some(e),
            _ => None,
        })
    }

    /// A transfer as the staged events leave it.
    fn staged_stored(&self, id: u128) -> Option<Stored> {
        let mut stored = self.graph.economy().ledger.transfers.get(&id).cloned();
        for e in self.econ() {
            if let Some(t) = e.transfers().iter().find(|t| t.id == id) {
                let at_ms = match e {
                    Econ::Transferred { at_ms, .. } => *at_ms,
                    _ => 0,
                };
                stored.get_or_insert_with(|| {
                    let (state, posted) = if t.pending {
                        (schema::ledger::State::Pending, 0)
                    } else {
                        (schema::ledger::State::Posted, t.amount)
                    };
                    Stored { transfer: t.clone(), state, posted, at_ms }
                });
            }
            if let (Some(s), Some(settle)) = (stored.as_mut(), e.settles().iter().find(|s| s.id == id)) {
                s.state = if settle.post > 0 { schema::ledger::State::Posted } else { schema::ledger::State::Voided };
                s.posted = settle.post;
            }
        }
        stored
    }

    /// The economy's contracts and listings as the staged events leave the ones they touch
    /// (and `contract` or `listing`).
    fn staged_economy(&self, contract: Option<Id>, listing: Option<Id>) -> Option<economy::Economy> {
        let touches = |e: &&Econ| {
            (contract.is_some() && e.contract() == contract) || (listing.is_some() && e.listing() == listing)
        };
        if !self.econ().any(|e| touches(&e)) {
            return None;
        }
        let base = self.graph.economy();
        let mut mini = economy::Economy::default();
        if let Some(c) = contract.and_then(|c| base.contracts.get(&c).map(|body| (c, body.clone()))) {
            mini.contracts.insert(c.0, c.1);
        }
        if let Some(l) = listing.and_then(|l| base.listings.get(&l).map(|body| (l, body.clone()))) {
            mini.listings.insert(l.0, l.1);
        }
        for e in self.econ().filter(touches) {
            let _ = mini.apply_domain(e);
        }
        Some(mini)
    }

    /// Trust of each member of `world` in the epoch (members the epoch does not know have
    /// none), with the mask ids.
    fn member_trust(&self, world: Id) -> Option<Vec<(Id, Option<f64>)>> {
        let reputation = self.reputation?;
        let w = self.graph.index_of(world)?;
        Some(
            self.graph
                .inn(EdgeKind::MemberOf, w)
                .map(|m| {
                    let id = self.graph.id_at(m);
                    (id, reputation.scores(m, id).map(|(t, _)| t))
                })
                .collect(),
        )
    }

    /// The case a staged governance event concerns, if any.
    fn case_of(g: &Gov) -> Option<Id> {
        match g {
            Gov::CaseOpened { case, .. }
            | Gov::CaseActed { case, .. }
            | Gov::Appealed { case, .. }
            | Gov::JuryVoted { case, .. }
            | Gov::Decided { case, .. } => Some(*case),
            _ => None,
        }
    }

    /// Cases and sanctions as the staged events leave them: a small state holding the cases
    /// the staged events touch, `case`, and the sanction of `key`, with those events applied.
    /// None when nothing staged concerns cases (the graph's state answers).
    fn staged_cases(&self, case: Option<Id>, key: Option<(Id, Id)>) -> Option<Governance> {
        let mut touched: Vec<Id> = self.gov().filter_map(Self::case_of).collect();
        if touched.is_empty() {
            return None;
        }
        let base = self.graph.governance();
        touched.extend(case);
        if let Some(&(action, c)) = key.and_then(|k| base.sanctions.get(&k)) {
            touched.push(c);
            let mut mini = Governance::default();
            mini.sanctions.insert(key.expect("looked up"), (action, c));
            return Some(self.replay_cases(mini, &touched));
        }
        Some(self.replay_cases(Governance::default(), &touched))
    }

    fn replay_cases(&self, mut mini: Governance, touched: &[Id]) -> Governance {
        let base = self.graph.governance();
        for id in touched {
            if let Some(c) = base.cases.get(id) {
                mini.cases.insert(*id, c.clone());
            }
        }
        for g in self.gov().filter(|g| Self::case_of(g).is_some()) {
            let _ = mini.apply(g.clone(), 0, [0; 32]);
        }
        mini
    }

    /// A staged erasure naming `id` (its user or one of its masks).
    fn staged_erasure(&self, id: Id) -> Option<&'a schema::Erasure> {
        self.staged.iter().find_map(|e| match e {
            Event::Erased(erasure) if erasure.user == id || erasure.masks.contains(&id) => Some(erasure),
            _ => None,
        })
    }

    fn created(&self, id: Id) -> Option<(&'a VertexKind, &'a schema::Props)> {
        self.plain().find_map(|e| match e {
            Event::VertexCreated { id: i, kind, props, .. } if *i == id => Some((kind, props)),
            _ => None,
        })
    }

    /// The latest staged word on an edge: Some(true) added, Some(false) removed.
    /// The latest staged change to an edge: `Some(Some(weight))` added, `Some(None)` removed,
    /// `None` untouched.
    fn staged_edge(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<Option<Option<f32>>> {
        self.plain().rev().find_map(|e| match *e {
            Event::EdgeAdded { kind: k, src: s, dst: d, weight, .. } if (k, s, d) == (kind, src, dst) => {
                Some(Some(weight))
            }
            Event::EdgeRemoved { kind: k, src: s, dst: d } if (k, s, d) == (kind, src, dst) => Some(None),
            _ => None,
        })
    }

    /// The edge's weight (`Some(None)`: there, without one), or `None` when there is no edge.
    fn edge_props(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<Option<f32>> {
        if let Some(staged) = self.staged_edge(kind, src, dst) {
            return staged;
        }
        let (s, d) = (self.graph.index_of(src)?, self.graph.index_of(dst)?);
        self.graph.edge(kind, s, d).map(|p| p.weight)
    }

    fn neighbours(&self, kind: EdgeKind, v: Id, limit: usize, outward: bool) -> Vec<Id> {
        let mut list: Vec<Id> = match self.graph.index_of(v) {
            Some(i) => {
                let it = if outward { self.graph.out(kind, i) } else { self.graph.inn(kind, i) };
                it.take(limit).map(|n| self.graph.id_at(n)).collect()
            }
            None => Vec::new(),
        };
        for e in self.plain() {
            match *e {
                Event::EdgeAdded { kind: k, src, dst, .. } if k == kind => {
                    let (this, other) = if outward { (src, dst) } else { (dst, src) };
                    if this == v && !list.contains(&other) {
                        list.push(other);
                    }
                }
                Event::EdgeRemoved { kind: k, src, dst } if k == kind => {
                    let (this, other) = if outward { (src, dst) } else { (dst, src) };
                    if this == v {
                        list.retain(|&x| x != other);
                    }
                }
                _ => {}
            }
        }
        list.truncate(limit);
        list
    }
}

impl View for Overlay<'_> {
    fn vertex_kind(&self, id: Id) -> Option<VertexKind> {
        self.created(id).map(|(k, _)| *k).or_else(|| self.graph.vertex_kind(id))
    }

    fn mask_kind(&self, mask: Id) -> Option<MaskKind> {
        if let Some((kind, props)) = self.created(mask) {
            return (*kind == VertexKind::Mask)
                .then(|| props.get("kind").and_then(Value::as_str).and_then(|k| k.parse().ok()))
                .flatten();
        }
        self.graph.index_of(mask).and_then(|v| self.graph.mask_kind(v))
    }

    fn owner_of(&self, mask: Id) -> Option<Id> {
        if self.staged_erasure(mask).is_some() {
            return None;
        }
        let staged = self.plain().find_map(|e| match *e {
            Event::EdgeAdded { kind: EdgeKind::Owns, src, dst, .. } if dst == mask => Some(src),
            _ => None,
        });
        staged.or_else(|| {
            let v = self.graph.index_of(mask)?;
            self.graph.owner_of(v).map(|u| self.graph.id_at(u))
        })
    }

    fn handle_holder(&self, handle: &Handle) -> Option<Id> {
        let staged = self.plain().find_map(|e| match e {
            Event::VertexCreated { id, kind: VertexKind::Mask, props, .. }
                if props.get("handle").and_then(Value::as_str) == Some(handle.as_str()) =>
            {
                Some(*id)
            }
            _ => None,
        });
        staged.or_else(|| self.graph.handle_holder(handle).map(|v| self.graph.id_at(v)))
    }

    fn has_edge(&self, kind: EdgeKind, src: Id, dst: Id) -> bool {
        self.edge_props(kind, src, dst).is_some()
    }

    fn edge_weight(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<f32> {
        self.edge_props(kind, src, dst).flatten()
    }

    fn targets(&self, kind: EdgeKind, src: Id, limit: usize) -> Vec<Id> {
        self.neighbours(kind, src, limit, true)
    }

    fn sources(&self, kind: EdgeKind, dst: Id, limit: usize) -> Vec<Id> {
        self.neighbours(kind, dst, limit, false)
    }

    fn mask_count(&self, user: Id) -> usize {
        let staged = self
            .plain()
            .filter(|e| matches!(e, Event::EdgeAdded { kind: EdgeKind::Owns, src, .. } if *src == user))
            .count();
        staged + self.graph.index_of(user).map_or(0, |u| self.graph.mask_count(u))
    }

    fn erased_until(&self, id: Id) -> Option<i64> {
        if let Some(erasure) = self.staged_erasure(id) {
            return Some(erasure.handles_free_at_ms);
        }
        self.graph.index_of(id).and_then(|v| self.graph.erased_until(v))
    }

    fn rules(&self, world: Id) -> Rules {
        let staged = self.gov().rev().find_map(|g| match g {
            Gov::RulesSet { world: w, rules, .. } if *w == world => Some((**rules).clone()),
            _ => None,
        });
        staged.unwrap_or_else(|| self.graph.governance().rules_of(world))
    }

    fn standing(&self, mask: Id, world: Id) -> Standing {
        let Some(reputation) = self.reputation else { return Standing::default() };
        let mut standing = Standing { epoch: Some(reputation.epoch()), ..Standing::default() };
        let Some(v) = self.graph.index_of(mask) else { return standing };
        let Some((trust, contribution)) = reputation.scores(v, mask) else { return standing };
        standing.contribution = Some(contribution);
        if let Some(members) = self.member_trust(world)
            && !members.is_empty()
        {
            let below = members.iter().filter(|(_, t)| t.is_none_or(|t| t < trust)).count();
            standing.trust_percentile = Some((below * 100 / members.len()) as u8);
        }
        standing
    }

    fn reputation_weights(&self, world: Id) -> Option<(u64, Vec<(Id, u64)>)> {
        let epoch = self.reputation?.epoch();
        let members = self.member_trust(world).unwrap_or_default();
        let max = members.iter().filter_map(|(_, t)| *t).fold(0.0f64, f64::max);
        let weights = members
            .into_iter()
            .map(|(id, t)| {
                let t = t.unwrap_or(0.0);
                let w =
                    if max > 0.0 && t > 0.0 { ((t / max) * WEIGHT_SCALE as f64).round().max(1.0) as u64 } else { 0 };
                (id, w)
            })
            .collect();
        Some((epoch, weights))
    }

    fn proposal(&self, proposal: Id) -> Option<ProposalInfo> {
        let closed_staged = self.gov().any(|g| matches!(g, Gov::Closed { proposal: p, .. } if *p == proposal));
        let staged = self.gov().find_map(|g| match g {
            Gov::Proposed { proposal: p, spec, .. } if *p == proposal => Some((**spec).clone()),
            _ => None,
        });
        let snapshot = self.gov().rev().find_map(|g| match g {
            Gov::Snapshotted { proposal: p, epoch, .. } if *p == proposal => Some(*epoch),
            _ => None,
        });
        let (mut spec, closed) = match staged {
            Some(spec) => (spec, closed_staged),
            None => {
                let state = self.graph.governance().proposals.get(&proposal)?;
                (state.spec.clone(), closed_staged || state.closed.is_some())
            }
        };
        if let Some(epoch) = snapshot {
            spec.weighting = schema::governance::Weighting::Reputation { epoch };
        }
        Some(ProposalInfo { spec, closed })
    }

    fn ballot(&self, proposal: Id, mask: Id) -> Option<Choice> {
        let staged = self.gov().rev().find_map(|g| match g {
            Gov::Voted { proposal: p, mask: m, choice } if (*p, *m) == (proposal, mask) => Some(choice.clone()),
            _ => None,
        });
        match staged {
            Some(choice) => choice,
            None => self.graph.governance().proposals.get(&proposal)?.ballots.get(&mask).map(|b| b.choice.clone()),
        }
    }

    fn ballots(&self, proposal: Id) -> Vec<(Id, CastBallot)> {
        let gov = self.graph.governance();
        let mut ballots = gov.proposals.get(&proposal).map(|s| s.ballots.clone()).unwrap_or_default();
        let mut order = gov.ballots_cast;
        for g in self.gov() {
            if let Gov::Voted { proposal: p, mask, choice } = g {
                match choice {
                    Some(choice) => {
                        if *p == proposal {
                            ballots.insert(*mask, CastBallot { choice: choice.clone(), order });
                        }
                        order += 1;
                    }
                    None if *p == proposal => {
                        ballots.remove(mask);
                    }
                    None => {}
                }
            }
        }
        ballots.into_iter().collect()
    }

    fn proposal_weight(&self, proposal: Id, mask: Id) -> Option<u64> {
        let staged = self.gov().rev().find_map(|g| match g {
            Gov::Proposed { proposal: p, weights, .. } | Gov::Snapshotted { proposal: p, weights, .. }
                if *p == proposal =>
            {
                Some(weights.iter().find(|(m, _)| *m == mask).map(|&(_, w)| w))
            }
            _ => None,
        });
        match staged {
            Some(w) => w,
            None => self.graph.governance().proposals.get(&proposal)?.weights.get(&mask).copied(),
        }
    }

    fn proposal_weights(&self, proposal: Id) -> BTreeMap<Id, u64> {
        let staged = self.gov().rev().find_map(|g| match g {
            Gov::Proposed { proposal: p, weights, .. } | Gov::Snapshotted { proposal: p, weights, .. }
                if *p == proposal =>
            {
                Some(weights.iter().copied().collect())
            }
            _ => None,
        });
        staged.unwrap_or_else(|| {
            self.graph.governance().proposals.get(&proposal).map(|s| s.weights.clone()).unwrap_or_default()
        })
    }

    fn member_scores(&self, world: Id) -> Option<(u64, schema::governance::MemberScores)> {
        let reputation = self.reputation?;
        let w = self.graph.index_of(world)?;
        let members = self
            .graph
            .inn(EdgeKind::MemberOf, w)
            .map(|m| {
                let id = self.graph.id_at(m);
                (id, reputation.scores(m, id))
            })
            .collect();
        Some((reputation.epoch(), members))
    }

    fn work_world(&self, work: Id) -> Option<Id> {
        let text = match self.created(work) {
            Some((_, props)) => props.get("world").and_then(Value::as_str).map(str::to_owned),
            None => {
                let v = self.graph.index_of(work)?;
                self.graph.public_prop(v, "world").and_then(Value::as_str).map(str::to_owned)
            }
        }?;
        u64::from_str_radix(&text, 16).ok().map(Id)
    }

    fn case(&self, case: Id) -> Option<Case> {
        match self.staged_cases(Some(case), None) {
            Some(mini) => mini.cases.get(&case).cloned(),
            None => self.graph.governance().cases.get(&case).cloned(),
        }
    }

    fn sanction(&self, mask: Id, world: Id) -> Option<Action> {
        let key = (mask, world);
        match self.staged_cases(None, Some(key)) {
            Some(mini) => mini.sanctions.get(&key).map(|&(a, _)| a),
            None => self.graph.governance().sanctions.get(&key).map(|&(a, _)| a),
        }
    }

    fn head(&self) -> (u64, [u8; 32]) {
        let position = self.graph.position();
        (position.seq, position.hash)
    }
    fn account(&self, id: Id) -> Account {
        let mut account = self.graph.economy().ledger.accounts.get(&id).cloned().unwrap_or_default();
        for e in self.econ() {
            for t in e.transfers().iter().filter(|t| t.debit == id || t.credit == id) {
                if self.graph.economy().ledger.transfers.contains_key(&t.id) {
                    continue;
                }
                match (t.debit == id, t.pending) {
                    (true, true) => account.debits_pending += t.amount,
                    (true, false) => account.debits_posted += t.amount,
                    (false, true) => account.credits_pending += t.amount,
                    (false, false) => account.credits_posted += t.amount,
                }
            }
            for settle in e.settles() {
                let Some(t) = self.staged_stored(settle.id).map(|s| s.transfer) else { continue };
                if t.debit == id {
                    account.debits_pending -= t.amount;
                    account.debits_posted += settle.post;
                }
                if t.credit == id {
                    account.credits_pending -= t.amount;
                    account.credits_posted += settle.post;
                }
            }
        }
        account
    }
    fn stored(&self, id: u128) -> Option<Stored> {
        self.staged_stored(id)
    }
    fn listing(&self, listing: Id) -> Option<economy::Listing> {
        match self.staged_economy(None, Some(listing)) {
            Some(mini) => mini.listings.get(&listing).cloned(),
            None => self.graph.economy().listings.get(&listing).cloned(),
        }
    }
    fn trade(&self, id: u128) -> Option<economy::Trade> {
        let staged = self.econ().find_map(|e| match e {
            Econ::Bought { trade, .. } if trade.id == id => Some((**trade).clone()),
            _ => None,
        });
        staged.or_else(|| self.graph.economy().trades.get(&id).cloned())
    }
    fn contract(&self, contract: Id) -> Option<economy::Contract> {
        match self.staged_economy(Some(contract), None) {
            Some(mini) => mini.contracts.get(&contract).cloned(),
            None => self.graph.economy().contracts.get(&contract).cloned(),
        }
    }
    fn due(&self, now_ms: i64, limit: usize) -> (Vec<u128>, Vec<(Id, u16)>) {
        // The clock's tick is decided alone in its group (nothing it names is staged twice):
        // staged settlements are skipped.
        let settled: Vec<u128> = self.econ().flat_map(|e| e.settles().iter().map(|s| s.id)).collect();
        let economy = self.graph.economy();
        let expired = economy.ledger.expired(now_ms, limit).into_iter().filter(|id| !settled.contains(id)).collect();
        let lapsed = economy
            .lapsed(now_ms, limit)
            .into_iter()
            .filter(|(c, i)| {
                economy.contracts[c].milestones.get(usize::from(*i)).is_some_and(|m| !settled.contains(&m.transfer))
            })
            .collect();
        (expired, lapsed)
    }
    fn royalty(&self, work: Id) -> Option<economy::Royalty> {
        if let Some((_, props)) = self.created(work) {
            return economy::Royalty::of(props);
        }
        let v = self.graph.index_of(work)?;
        economy::Royalty::of(self.graph.vertices.props.get(&v)?)
    }

    fn prop(&self, id: Id, key: &str) -> Option<Value> {
        for event in self.plain().rev() {
            match event {
                Event::PropsSet { id: i, props } if *i == id => {
                    if let Some(value) = props.get(key) {
                        return Some(value.clone());
                    }
                }
                Event::VertexCreated { id: i, props, .. } if *i == id => return props.get(key).cloned(),
                _ => {}
            }
        }
        let v = self.graph.index_of(id)?;
        self.graph.prop(v, key).cloned()
    }

    fn delegations(&self, world: Id) -> BTreeMap<(Id, String), Id> {
        let mut delegations = self.graph.governance().delegations.get(&world).cloned().unwrap_or_default();
        for g in self.gov() {
            if let Gov::Delegated { world: w, mask, topic, to } = g
                && *w == world
            {
                match to {
                    Some(to) => delegations.insert((*mask, topic.clone()), *to),
                    None => delegations.remove(&(*mask, topic.clone())),
                };
            }
        }
        delegations
    }
}

/// The rules' view of a graph with nothing staged: for deciding commands against a graph
/// held in memory, without an engine (researchers' tools, benchmarks, tests).
pub struct GraphView<'a>(pub &'a Graph);

impl View for GraphView<'_> {
    fn vertex_kind(&self, id: Id) -> Option<VertexKind> {
        Overlay::new(self.0, &[]).vertex_kind(id)
    }
    fn mask_kind(&self, mask: Id) -> Option<MaskKind> {
        Overlay::new(self.0, &[]).mask_kind(mask)
    }
    fn owner_of(&self, mask: Id) -> Option<Id> {
        Overlay::new(self.0, &[]).owner_of(mask)
    }
    fn handle_holder(&self, handle: &Handle) -> Option<Id> {
        Overlay::new(self.0, &[]).handle_holder(handle)
    }
    fn has_edge(&self, kind: EdgeKind, src: Id, dst: Id) -> bool {
        Overlay::new(self.0, &[]).has_edge(kind, src, dst)
    }
    fn edge_weight(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<f32> {
        Overlay::new(self.0, &[]).edge_weight(kind, src, dst)
    }
    fn targets(&self, kind: EdgeKind, src: Id, limit: usize) -> Vec<Id> {
        Overlay::new(self.0, &[]).targets(kind, src, limit)
    }
    fn sources(&self, kind: EdgeKind, dst: Id, limit: usize) -> Vec<Id> {
        Overlay::new(self.0, &[]).sources(kind, dst, limit)
    }
    fn mask_count(&self, user: Id) -> usize {
        Overlay::new(self.0, &[]).mask_count(user)
    }
    fn erased_until(&self, id: Id) -> Option<i64> {
        Overlay::new(self.0, &[]).erased_until(id)
    }
    fn rules(&self, world: Id) -> Rules {
        Overlay::new(self.0, &[]).rules(world)
    }
    fn standing(&self, mask: Id, world: Id) -> Standing {
        Overlay::new(self.0, &[]).standing(mask, world)
    }
    fn reputation_weights(&self, world: Id) -> Option<(u64, Vec<(Id, u64)>)> {
        Overlay::new(self.0, &[]).reputation_weights(world)
    }
    fn proposal(&self, proposal: Id) -> Option<ProposalInfo> {
        Overlay::new(self.0, &[]).proposal(proposal)
    }
    fn ballot(&self, proposal: Id, mask: Id) -> Option<Choice> {
        Overlay::new(self.0, &[]).ballot(proposal, mask)
    }
    fn ballots(&self, proposal: Id) -> Vec<(Id, CastBallot)> {
        Overlay::new(self.0, &[]).ballots(proposal)
    }
    fn proposal_weight(&self, proposal: Id, mask: Id) -> Option<u64> {
        Overlay::new(self.0, &[]).proposal_weight(proposal, mask)
    }
    fn proposal_weights(&self, proposal: Id) -> BTreeMap<Id, u64> {
        Overlay::new(self.0, &[]).proposal_weights(proposal)
    }
    fn delegations(&self, world: Id) -> BTreeMap<(Id, String), Id> {
        Overlay::new(self.0, &[]).delegations(world)
    }
    fn member_scores(&self, world: Id) -> Option<(u64, schema::governance::MemberScores)> {
        Overlay::new(self.0, &[]).member_scores(world)
    }
    fn work_world(&self, work: Id) -> Option<Id> {
        Overlay::new(self.0, &[]).work_world(work)
    }
    fn case(&self, case: Id) -> Option<Case> {
        Overlay::new(self.0, &[]).case(case)
    }
    fn sanction(&self, mask: Id, world: Id) -> Option<Action> {
        Overlay::new(self.0, &[]).sanction(mask, world)
    }
    fn head(&self) -> (u64, [u8; 32]) {
        Overlay::new(self.0, &[]).head()
    }
    fn account(&self, id: Id) -> Account {
        Overlay::new(self.0, &[]).account(id)
    }
    fn stored(&self, id: u128) -> Option<Stored> {
        Overlay::new(self.0, &[]).stored(id)
    }
    fn listing(&self, listing: Id) -> Option<economy::Listing> {
        Overlay::new(self.0, &[]).listing(listing)
    }
    fn trade(&self, id: u128) -> Option<economy::Trade> {
        Overlay::new(self.0, &[]).trade(id)
    }
    fn contract(&self, contract: Id) -> Option<economy::Contract> {
        Overlay::new(self.0, &[]).contract(contract)
    }
    fn due(&self, now_ms: i64, limit: usize) -> (Vec<u128>, Vec<(Id, u16)>) {
        Overlay::new(self.0, &[]).due(now_ms, limit)
    }
    fn royalty(&self, work: Id) -> Option<economy::Royalty> {
        Overlay::new(self.0, &[]).royalty(work)
    }
    fn prop(&self, id: Id, key: &str) -> Option<Value> {
        Overlay::new(self.0, &[]).prop(id, key)
    }
}

impl Graph {
    /// Whether `viewer` (a signed-in user, or nobody) may see vertex `v`, by the rules of
    /// [`schema::visibility`]: a private mask only by its owner and the users it admitted, a
    /// work only when one of its authors is seen, a user by nobody. Every read of the API asks
    /// this before it shows a mask or a work. Cheap for everything but private masks' things.
    pub fn sees(&self, viewer: Option<Id>, v: u32) -> bool {
        match self.kind_at(v) {
            VertexKind::Mask => {
                self.mask_kind(v) != Some(MaskKind::Private)
                    || schema::visibility::sees_mask(&GraphView(self), viewer, self.id_at(v))
            }
            VertexKind::Work => {
                let mut authors = self.inn(EdgeKind::Authored, v).peekable();
                authors.peek().is_none()
                    || authors.any(|m| self.mask_kind(m) != Some(MaskKind::Private))
                    || schema::visibility::sees_work(&GraphView(self), viewer, self.id_at(v))
            }
            VertexKind::Post | VertexKind::Thread => {
                schema::visibility::sees_post(&GraphView(self), viewer, self.id_at(v))
            }
            kind => schema::visibility::vertex_is_public(kind),
        }
    }

    /// A graph held only in memory, loaded from one import: for researchers' analyses
    /// (`daira analyze` on a JSONL file) and benchmarks. The import is decided by the same
    /// rules as on a data directory, and its events applied; the graph has no log, stays at log
    /// position zero and can never get a log or change again — an [`crate::Engine`] is always
    /// opened from its own log, so nothing written here could reach one.
    pub fn from_import(batch: schema::ImportBatch) -> crate::Result<Graph> {
        let mut graph = Graph::new();
        let events = schema::decide(schema::Command::Import(batch), 0, &GraphView(&graph))?;
        for event in events {
            graph.apply(event)?;
        }
        Ok(graph)
    }
}
